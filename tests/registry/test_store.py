"""The SQLAlchemy store on SQLite and on PostgreSQL (when MODELYARD_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import pytest

from modelyard.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from modelyard.registry.entities import NewVersion, VersionFilter
from modelyard.registry.sql import SqlAlchemyStore

SIGNATURE = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}], "outputs": []}


def new(name: str = "fraud", **kw: object) -> NewVersion:
    fields: dict[str, object] = {
        "name": name,
        "format": "onnx",
        "artifact_uri": "file:///a",
        "sha256": "0" * 64,
        "size": 10,
        "signature": SIGNATURE,
        "manifest": {"name": name},
    }
    return NewVersion(**{**fields, **kw})  # type: ignore[arg-type]


def test_versions_are_numbered_per_model(store: SqlAlchemyStore) -> None:
    assert [store.create_model_version(new()).version for _ in range(3)] == [1, 2, 3]
    assert store.create_model_version(new("other")).version == 1
    assert store.get_latest_version("fraud").version == 3
    assert store.get_registered_model("fraud").latest_version == 3


def test_metadata_round_trips(store: SqlAlchemyStore) -> None:
    created = store.create_model_version(
        new(
            description="d",
            author="ann",
            metrics={"auc": 0.91},
            params={"lr": "0.1"},
            tags={"team": "risk"},
            source={"run_id": "r1", "git_commit": "abc"},
        )
    )
    got = store.get_model_version("fraud", created.version)
    assert got == created
    assert (got.author, got.metrics, got.params, got.tags, got.source["run_id"]) == (
        "ann",
        {"auc": 0.91},
        {"lr": "0.1"},
        {"team": "risk"},
        "r1",
    )
    assert got.created_at.tzinfo is not None


def test_not_found_errors(store: SqlAlchemyStore) -> None:
    with pytest.raises(NotFound, match="not registered"):
        store.get_model_version("nope", 1)
    store.create_model_version(new())
    with pytest.raises(NotFound, match="no version 7"):
        store.get_model_version("fraud", 7)
    with pytest.raises(NotFound, match="no alias"):
        store.resolve_alias("fraud", "production")


def test_alias_moves_history_and_rollback(store: SqlAlchemyStore) -> None:
    for _ in range(3):
        store.create_model_version(new())
    store.set_alias("fraud", "production", 1, "ann", "first", {"auc": 0.9})
    store.set_alias("fraud", "production", 3, "bob", "better")
    store.set_alias("fraud", "staging", 2, "bob", "")
    assert store.resolve_alias("fraud", "production") == 3
    back = store.rollback_alias("fraud", "production", "carl", "p99 regression")
    assert (back.kind, back.from_version, back.to_version) == ("rollback", 3, 1)
    assert store.resolve_alias("fraud", "production") == 1
    history = store.alias_history("fraud", "production")
    assert [(e.kind, e.from_version, e.to_version, e.actor) for e in history] == [
        ("set", None, 1, "ann"),
        ("set", 1, 3, "bob"),
        ("rollback", 3, 1, "carl"),
    ]
    assert history[0].evidence == {"auc": 0.9}
    assert len(store.alias_history("fraud")) == 4
    assert store.get_registered_model("fraud").aliases == {"production": 1, "staging": 2}
    assert store.get_model_version("fraud", 1).aliases == ("production",)


def test_a_move_on_what_the_caller_saw_refuses_once_the_alias_moved_meanwhile(store: SqlAlchemyStore) -> None:
    for _ in range(3):
        store.create_model_version(new())
    with pytest.raises(FailedPrecondition, match="moved to nothing meanwhile, not 1"):
        store.set_alias("fraud", "production", 2, "ann", "", expect=1)
    store.set_alias("fraud", "production", 1, "ann", "", expect=None)  # unset, as seen
    store.set_alias("fraud", "production", 2, "bob", "", expect=1)
    with pytest.raises(FailedPrecondition, match="fraud@production moved to 2 meanwhile, not 1"):
        store.set_alias("fraud", "production", 3, "carl", "validated against 1", expect=1)
    with pytest.raises(FailedPrecondition, match="moved to 2 meanwhile"):
        store.rollback_alias("fraud", "production", "carl", "", expect=3)
    assert store.resolve_alias("fraud", "production") == 2  # neither refused move changed anything
    assert len(store.alias_history("fraud", "production")) == 2
    assert store.rollback_alias("fraud", "production", "dan", "", expect=2).to_version == 1


def test_alias_history_pages_back_from_the_newest_move(store: SqlAlchemyStore) -> None:
    for _ in range(2):
        store.create_model_version(new())
    for i in range(7):
        store.set_alias("fraud", "production", 1 + i % 2, "ann", f"move {i}")
    store.set_alias("fraud", "staging", 1, "ann", "other alias")
    newest = store.alias_history("fraud", "production", limit=3)
    assert [e.reason for e in newest] == ["move 4", "move 5", "move 6"]  # the newest three, oldest first
    older = store.alias_history("fraud", "production", limit=3, before=newest[0].id)
    assert [e.reason for e in older] == ["move 1", "move 2", "move 3"]
    assert [e.reason for e in store.alias_history("fraud", "production", limit=3, before=older[0].id)] == ["move 0"]
    assert store.alias_history("fraud", limit=1)[0].reason == "other alias"


def test_alias_must_point_at_an_existing_version(store: SqlAlchemyStore) -> None:
    store.create_model_version(new())
    with pytest.raises(NotFound):
        store.set_alias("fraud", "production", 2, "a", "")
    assert store.alias_history("fraud") == []


def test_delete_version_refused_while_aliased_unless_forced(store: SqlAlchemyStore) -> None:
    store.create_model_version(new())
    store.create_model_version(new())
    store.set_alias("fraud", "production", 1, "a", "")
    with pytest.raises(FailedPrecondition, match="fraud@production"):
        store.delete_model_version("fraud", 1, force=False, actor="a")
    assert store.get_model_version("fraud", 1).version == 1
    store.delete_model_version("fraud", 1, force=True, actor="a")
    with pytest.raises(NotFound):
        store.get_model_version("fraud", 1)
    with pytest.raises(NotFound):
        store.resolve_alias("fraud", "production")
    assert store.alias_history("fraud", "production")[-1].kind == "delete"
    # numbers are never reused
    assert store.create_model_version(new()).version == 3


def test_rollback_to_a_deleted_version_is_refused(store: SqlAlchemyStore) -> None:
    store.create_model_version(new())
    store.create_model_version(new())
    store.set_alias("fraud", "production", 1, "a", "")
    store.set_alias("fraud", "production", 2, "a", "")
    store.delete_model_version("fraud", 1, force=False, actor="a")
    with pytest.raises(FailedPrecondition, match="deleted"):
        store.rollback_alias("fraud", "production", "a", "")
    assert store.resolve_alias("fraud", "production") == 2


def test_search_filters_and_pages(store: SqlAlchemyStore) -> None:
    for i in range(7):
        store.create_model_version(new("fraud", author="ann" if i % 2 else "bob", tags={"tier": str(i % 3)}))
    store.create_model_version(new("churn", format="sklearn", tags={"tier": "0"}))
    store.set_alias("fraud", "production", 4, "a", "")

    assert [v.version for v in store.search_model_versions(VersionFilter(name="fraud", author="ann")).items] == [
        6,
        4,
        2,
    ]
    assert {(v.name, v.version) for v in store.search_model_versions(VersionFilter(tags={"tier": "0"})).items} == {
        ("fraud", 1),
        ("fraud", 4),
        ("fraud", 7),
        ("churn", 1),
    }
    assert [v.version for v in store.search_model_versions(VersionFilter(alias="production")).items] == [4]
    assert [v.name for v in store.search_model_versions(VersionFilter(format="sklearn")).items] == ["churn"]
    assert [v.name for v in store.search_model_versions(VersionFilter(name_contains="hur")).items] == ["churn"]

    seen, token = [], None
    while True:
        page = store.search_model_versions(VersionFilter(name="fraud"), page_size=3, page_token=token)
        seen += [v.version for v in page.items]
        token = page.next_page_token
        if token is None:
            break
    assert seen == [7, 6, 5, 4, 3, 2, 1]

    models = store.list_registered_models(page_size=1)
    assert [m.name for m in models.items] == ["churn"]
    assert [m.name for m in store.list_registered_models(page_token=models.next_page_token).items] == ["fraud"]
    with pytest.raises(InvalidArgument, match="page_token"):
        store.search_model_versions(page_token="!!not-a-token")
    with pytest.raises(InvalidArgument, match="page_size"):
        store.search_model_versions(page_size=0)


def test_update_model_and_perf_card(store: SqlAlchemyStore) -> None:
    store.create_model_version(new())
    model = store.update_registered_model("fraud", description="Fraud scores", tags={"owner": "risk"})
    assert (model.description, model.tags) == ("Fraud scores", {"owner": "risk"})
    card = {"config": {"max_batch_size": 32}, "throughput_rps": 1234.5}
    assert store.set_perf_card("fraud", 1, card).perf_card == card
    assert store.get_model_version("fraud", 1).perf_card == card


def test_integrity_error_becomes_already_exists(store: SqlAlchemyStore) -> None:
    from modelyard.registry.sql.models import ModelVersionRow

    store.create_model_version(new())
    with pytest.raises(AlreadyExists), store._session(write=True) as s:
        s.add(
            ModelVersionRow(
                name="fraud",
                version=1,
                format="onnx",
                artifact_uri="",
                sha256="",
                size=0,
                signature={},
                manifest={},
                source={},
                metrics={},
                params={},
            )
        )
    assert store.get_latest_version("fraud").version == 1
