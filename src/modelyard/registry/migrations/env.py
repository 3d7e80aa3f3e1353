"""Alembic environment: always run on a connection the store hands in (see sql/engine.py: upgrade)."""

from alembic import context

from modelyard.registry.sql.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("modelyard migrations run through modelyard.registry.sql.engine.upgrade()")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
