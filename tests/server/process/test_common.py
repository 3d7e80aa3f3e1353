"""The modules a serving process names as strings (to keep their imports out of lean processes) exist, and the
argv each process is started with names a module that runs."""

from __future__ import annotations

import importlib.util

import pytest

from modelyard.server.process import common, http_worker, launch, supervisor


@pytest.mark.parametrize(
    "module",
    [common.WORKER_APP, common.UVICORN_PROTOCOL, common.GRPC_SERVICE, common.FOLLOWER, common.SPEC, supervisor.PREFORK,
     *http_worker.preloaded(grpc=True)],
)  # fmt: skip
def test_every_module_named_as_a_string_exists(module: str) -> None:
    assert importlib.util.find_spec(module) is not None, module


def test_the_uvicorn_factory_and_protocol_named_are_there() -> None:
    options = http_worker.uvicorn_options(drain_s=5, spec={})
    for target in (options["app"], options["http"]):
        module, attribute = target.split(":")
        assert callable(getattr(importlib.import_module(module), attribute)), target


def test_each_process_is_started_as_the_module_that_defines_it() -> None:
    assert launch.launcher_argv("s.json", "127.0.0.1", 8000, 2, 30)[1:3] == ["-m", launch.__name__]
    assert supervisor.supervisor_argv("s.json", "127.0.0.1", 8000, 30, [1, 2])[1:3] == ["-m", supervisor.__name__]
    assert launch.__name__ == "modelyard.server.process.launch"
