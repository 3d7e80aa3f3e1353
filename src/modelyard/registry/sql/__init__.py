"""SQLAlchemy implementation of the registry store (SQLite and PostgreSQL)."""

from modelyard.registry.sql.store import SqlAlchemyStore

__all__ = ["SqlAlchemyStore"]
