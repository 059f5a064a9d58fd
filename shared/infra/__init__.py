"""Local infrastructure for tests and the demo: a Postgres and a Kafka-protocol broker.

Kept import-free so the reaper (``python -m shared.infra.reaper``) starts fast; import
``shared.infra.stack`` for ``local_stack`` / ``start_stack`` / ``stop_stack``.
"""
