"""The Alembic migrations and the ORM describe the same schema, on every database."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from modelyard.registry.sql import SqlAlchemyStore
from modelyard.registry.sql.engine import head_revision
from modelyard.registry.sql.models import Base


def test_migrated_schema_matches_the_models(store: SqlAlchemyStore) -> None:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn)
        assert context.get_current_revision() == head_revision()
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_reopening_is_idempotent(database_url: str) -> None:
    for _ in range(2):
        SqlAlchemyStore(database_url).close()
