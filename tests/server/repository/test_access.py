"""Who may change what a server serves: the control token on the repository API, and code-running models that the
API loads only where the operator allowed it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from modelyard.errors import PermissionDenied, Unauthenticated
from modelyard.registry import Registry
from modelyard.server.repository.access import ControlAccess, bearer
from modelyard.server.repository.spec import RegistryLink, ServeSpec, SourceSpec
from modelyard.settings import Settings
from modelyard.testing import InProcess

ROW = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 32], "data": [0.5] * 32}]}
TOKEN = "s3cret-token"


def test_bearer_reads_the_token_of_an_authorization_value() -> None:
    assert bearer(b"Bearer abc") == "abc"
    assert bearer("bearer  abc ") == "abc"
    assert bearer("Basic abc") is None
    assert bearer(None) is None


def test_a_token_is_required_and_compared_whole() -> None:
    ControlAccess().check(None)  # no token: open
    access = ControlAccess(TOKEN)
    access.check(TOKEN)
    with pytest.raises(Unauthenticated, match="Authorization: Bearer"):
        access.check(None)
    for wrong in ("", TOKEN[:-1], TOKEN + "x"):
        with pytest.raises(PermissionDenied):
            access.check(wrong)


@pytest.fixture(scope="module")
def guarded(model_folder: Path) -> Iterator[InProcess]:
    spec = ServeSpec(
        models=[SourceSpec(name="tabular", version="1", package_dir=str(model_folder / "tabular"))],
        control_token=TOKEN,
    )
    app = InProcess(spec)
    yield app
    app.close()


def test_load_and_unload_need_the_servers_token(guarded: InProcess) -> None:
    unload = "/v2/repository/models/tabular/unload"
    r = guarded.post(unload)
    assert (r.status_code, "control token" in r.json()["error"]) == (401, True)
    assert guarded.post(unload, headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert guarded.post("/v2/models/tabular/infer", json=ROW).status_code == 200  # still served: nothing moved
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert guarded.post(unload, headers=auth).json() == {"unloaded": "tabular", "versions": ["1"]}
    assert guarded.post("/v2/models/tabular/infer", json=ROW).status_code == 404
    assert guarded.post("/v2/repository/models/tabular/load").status_code == 401
    assert guarded.post("/v2/repository/models/tabular/load", headers=auth).status_code == 200
    assert guarded.post("/v2/models/tabular/infer", json=ROW).status_code == 200


@pytest.mark.parametrize("allowed", [False, True])
def test_the_api_loads_a_code_running_model_only_where_allowed(
    allowed: bool, settings: Settings, registry: Registry, model_folder: Path, sklearn_model: tuple[Path, np.ndarray]
) -> None:
    """A remote load of a registered pickle ran its code inside the server."""
    path, example = sklearn_model
    registry.register(path, name="pickled", example=example)
    link = RegistryLink(
        database_url=settings.database_url,
        artifact_url=settings.artifact_url,
        cache_dir=str(settings.home_dir / "cache"),
    )
    spec = ServeSpec(
        models=[SourceSpec(name="tabular", version="1", package_dir=str(model_folder / "tabular"))],
        registry=link,
        allow_trusted_loads=allowed,
    )
    app = InProcess(spec)
    try:
        r = app.post("/v2/repository/models/pickled/load")
        if allowed:
            assert r.json() == {"loaded": "pickled", "versions": ["1"]}
        else:
            assert r.status_code == 403
            assert "trusted_only" in r.json()["error"]
            assert "--allow-trusted-loads" in r.json()["error"]
            assert app.post("/v2/models/pickled/infer", json=ROW).status_code == 404
    finally:
        app.close()


@pytest.mark.e2e
def test_a_real_server_guards_both_transports(model_folder: Path, tmp_path: Path) -> None:
    import grpc
    import httpx

    from modelyard.protocol.grpc import grpc_predict_v2_pb2 as pb
    from modelyard.protocol.grpc.methods import method_stub
    from modelyard.testing import start_server, stop_server

    server = start_server([str(model_folder / "tabular"), "--control-token", TOKEN], tmp_path / "home")
    try:
        assert httpx.post(f"{server.url}/v2/repository/models/tabular/unload").status_code == 401
        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            unload = method_stub(channel, "RepositoryModelUnload")
            with pytest.raises(grpc.RpcError) as refused:
                unload(pb.RepositoryModelUnloadRequest(model_name="tabular"))
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.RpcError) as wrong:
                unload(pb.RepositoryModelUnloadRequest(model_name="tabular"), metadata=[("authorization", "Bearer x")])
            assert wrong.value.code() == grpc.StatusCode.PERMISSION_DENIED
            unload(
                pb.RepositoryModelUnloadRequest(model_name="tabular"), metadata=[("authorization", f"Bearer {TOKEN}")]
            )
        assert httpx.post(f"{server.url}/v2/models/tabular/infer", json=ROW).status_code == 404
        spec = next((tmp_path / "home" / "run").glob("serve-*.json"))
        assert spec.stat().st_mode & 0o077 == 0  # the token's file is the server user's alone
    finally:
        stop_server(server)
