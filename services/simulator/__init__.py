"""A faithful stand-in for Hypetech: its REST API, a provably fair crash game, signed webhooks
with Hypetech's retry behaviour, injectable faults, and its own truth to check any run against."""
