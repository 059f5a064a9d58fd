"""Postgres access: the asyncpg pool, the migration runner and per-run databases."""
