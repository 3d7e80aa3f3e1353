"""Discovery entries in the registry: announce, refresh, go stale, withdraw (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from modelyard.registry import Registry, ServedVersion, ServerRecord


def record(server_id: str, models: tuple[ServedVersion, ...], age_s: float = 0.0, ready: bool = True) -> ServerRecord:
    now = datetime.now(UTC)
    return ServerRecord(
        id=server_id,
        http_url=f"http://127.0.0.1:{8000 + len(server_id)}",
        grpc_url="127.0.0.1:8001",
        host="box",
        pid=123,
        models=models,
        ready=ready,
        started_at=now - timedelta(seconds=age_s + 60),
        heartbeat_at=now - timedelta(seconds=age_s),
    )


def test_live_servers_are_listed_per_model(registry: Registry) -> None:
    registry.announce(record("a", (ServedVersion("fraud", 3, ("production",)), ServedVersion("churn", 1))))
    registry.announce(record("bb", (ServedVersion("fraud", 4),)))
    assert [s.id for s in registry.servers()] == ["a", "bb"]
    assert [s.id for s in registry.servers("fraud@production")] == ["a", "bb"]
    assert [s.id for s in registry.servers("churn")] == ["a"]
    assert registry.servers("nothing") == []
    (a,) = registry.servers("churn")
    assert a.models[0] == ServedVersion("fraud", 3, ("production",))
    assert a.http_url == "http://127.0.0.1:8001"
    assert a.ready


def test_stale_entries_are_ignored_and_a_heartbeat_revives_them(registry: Registry) -> None:
    registry.announce(record("old", (ServedVersion("fraud", 1),), age_s=120))
    assert registry.servers("fraud", stale_after_s=30) == []
    assert [s.id for s in registry.servers("fraud", stale_after_s=300)] == ["old"]
    registry.announce(record("old", (ServedVersion("fraud", 2),)))  # the same id refreshes its row
    (live,) = registry.servers("fraud", stale_after_s=30)
    assert live.models == (ServedVersion("fraud", 2),)
    assert live.heartbeat_at - live.started_at > timedelta(seconds=150)  # kept from the first announcement


def test_withdrawn_servers_disappear(registry: Registry) -> None:
    registry.announce(record("a", (ServedVersion("fraud", 1),)))
    registry.withdraw("a")
    registry.withdraw("a")  # withdrawing twice is harmless
    assert registry.servers() == []
