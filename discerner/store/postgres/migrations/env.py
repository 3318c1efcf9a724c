"""Alembic environment: migrates on the connection `schema.migrate` hands over, never a URL."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
