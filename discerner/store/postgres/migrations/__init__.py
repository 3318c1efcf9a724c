"""Alembic migrations of the PostgreSQL store (run by `discerner.store.postgres.schema`)."""
