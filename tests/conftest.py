"""Shared fixtures: real SQLite always, real PostgreSQL when MODELYARD_TEST_POSTGRES_URL is set, real models."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from modelyard import examples
from modelyard.registry import ArtifactStore, Registry
from modelyard.registry.sql import SqlAlchemyStore
from modelyard.settings import Settings
from modelyard.testing import postgres_schema

POSTGRES_URL = os.environ.get("MODELYARD_TEST_POSTGRES_URL")
DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


SERVER_FIXTURES = frozenset({"server", "two_workers"})  # fixtures that start a real `modelyard serve`


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test on a real server process is e2e by its fixtures (others carry the marker themselves); postgres
    tests skip without a database to run on."""
    skip = pytest.mark.skip(reason="MODELYARD_TEST_POSTGRES_URL is not set")
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)
        if not POSTGRES_URL and "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def mlp_path(model_dir: Path) -> Path:
    return examples.mlp_onnx(model_dir / "mlp.onnx", sizes=(4, 8, 2))


@pytest.fixture(scope="session")
def sklearn_model(model_dir: Path) -> tuple[Path, np.ndarray]:
    pytest.importorskip("sklearn")
    return examples.sklearn_pipeline(model_dir / "churn.joblib")


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty registry database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.db'}"
    else:
        assert POSTGRES_URL
        with postgres_schema(POSTGRES_URL) as url:
            yield url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(home=tmp_path / "home", registry={"database_url": database_url})  # type: ignore[arg-type]


@pytest.fixture
def store(database_url: str) -> Iterator[SqlAlchemyStore]:
    s = SqlAlchemyStore(database_url)
    yield s
    s.close()


@pytest.fixture
def registry(settings: Settings) -> Iterator[Registry]:
    with Registry.from_settings(settings, actor="tester") as r:
        yield r


@pytest.fixture
def artifacts(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(str(tmp_path / "artifacts"))


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    """Debian's chromium, headless, driven through chromium-driver (Selenium's types are partial: untyped here)."""
    webdriver = pytest.importorskip("selenium.webdriver")
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs them)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1000"):  # fmt: skip
        options.add_argument(flag)
    session = webdriver.Chrome(options=options, service=Service(driver))
    yield session
    session.quit()
