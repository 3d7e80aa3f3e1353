"""The dashboard as a real `modelyard ui` process over a real registry: first over HTTP (what each page says, what
a write without the token or from a stale page does), then in Debian's chromium through chromium-driver (a
promotion through the page, a refusal and its reasons, the live charts moving while a load runs). Screenshots of
each page go to MODELYARD_TEST_ARTIFACTS (default: build/screenshots), for the README."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest

from modelyard import examples
from modelyard.client import Client
from modelyard.registry import Registry, Validation
from modelyard.settings import Settings
from modelyard.testing import free_port, record_traffic, run_cli, start_server, stop_server, wait_until

pytestmark = pytest.mark.e2e
TOKEN = "a-token-for-the-tests"
SHOTS = Path(os.environ.get("MODELYARD_TEST_ARTIFACTS", "build")) / "screenshots"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fraud 1 (production, 60 requests recorded), 2 (the same bytes: passes), 3 (other weights: fails); churn,
    whose production alias moved 25 times."""
    work = tmp_path_factory.mktemp("ui")
    home = work / "home"
    same = examples.mlp_onnx(work / "a.onnx", sizes=(4, 8, 2), seed=1)
    other = examples.mlp_onnx(work / "b.onnx", sizes=(4, 8, 2), seed=7)
    for path, auc in ((same, "0.91"), (same, "0.93"), (other, "0.88")):
        run_cli(home, "models", "register", str(path), "--name", "fraud", "--metric", f"auc={auc}",
                "--tag", "team=risk")  # fmt: skip
    run_cli(home, "alias", "set", "fraud@production", "1", "--reason", "first release")
    run_cli(home, "alias", "set", "fraud@staging", "3")
    record_traffic(home, "fraud@production")
    run_cli(home, "models", "register", str(other), "--name", "churn")
    with Registry.from_settings(Settings(home=home)) as registry:
        for i in range(25):  # more moves than a page shows
            registry.set_alias("churn", "production", 1, reason=f"move {i}")
        for i in range(55):  # more validations than a page shows
            registry.record_validation(Validation(
                id=0, name="churn", baseline_version=1, candidate_version=1, baseline_sha256="", candidate_sha256="",
                data_sha256="", requests=100 + i, source="test", policy={}, checks=(), verdict="pass", actor="",
                at=datetime.now(UTC)))  # fmt: skip
        curves = [
            {"config": "no batching inst=1 threads=1", "points": [[1, 900.0, 1.1], [4, 2100.0, 2.5]]},
            {"config": "batch=8 delay=1000us inst=1 threads=1", "points": [[1, 800.0, 1.4], [8, 3000.0, 3.9]]},
        ]
        registry.set_perf_card("models:/fraud/1", {"throughput_rps": 3000.0, "p99_ms": 3.9, "p50_ms": 2.0,
                               "p99_budget_ms": 5.0, "capacity_rps": 2100.0, "headroom": 0.7, "concurrency": 8,
                               "serve_args": ["--max-batch-size", "8"], "curves": curves})  # fmt: skip
    return home


@pytest.fixture(scope="module")
def ui(home: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "MODELYARD_HOME": str(home), "MODELYARD_UI__TOKEN": TOKEN}
    log = home / "ui.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "modelyard", "ui", "--port", str(port)], stdout=out,
                                   stderr=subprocess.STDOUT, env=env)  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if process.poll() is not None:
            raise RuntimeError(log.read_text())
        try:
            return httpx.get(f"{url}/models", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(up, 30, what="modelyard ui answers")
    yield url
    process.terminate()
    process.wait(timeout=10)
    assert "Traceback" not in log.read_text(), log.read_text()


def text(page: str) -> str:
    """What a reader sees: the tags gone, the entities decoded, the spaces folded."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def test_the_pages_show_what_the_cli_shows(ui: str, home: Path) -> None:
    models = httpx.get(f"{ui}/models").text
    assert 'data-name="fraud"' in models
    assert "production → 1" in text(models)
    assert 'data-name="fraud"' not in httpx.get(f"{ui}/models", params={"q": "nobody"}).text
    by_tag = httpx.get(f"{ui}/models", params={"tag": "team=risk", "alias": "staging"}).text
    assert re.findall(r'data-ref="([^"]+)"', by_tag) == ["fraud/3"]
    assert "team=risk" in by_tag  # version tags
    versions = httpx.get(f"{ui}/models/fraud").text
    assert re.findall(r'data-version="(\d+)"', versions) == ["3", "2", "1"]  # newest first
    version = text(httpx.get(f"{ui}/models/fraud/versions/1").text)
    assert "0.91" in version
    assert "3,000" in version
    assert "2,100" in version  # metric, card throughput, capacity
    page = httpx.get(f"{ui}/models/fraud/versions/1").text
    assert 'data-chart="profile"' in page
    assert "batch=8 delay=1000us" in page
    diff = httpx.get(f"{ui}/models/fraud/compare", params={"a": 1, "b": 3}).text
    assert re.search(r'class="changed" data-key="auc".*?-0.03', diff, re.S)
    assert re.search(r'class="changed" data-key="sha256"', diff)
    timeline = text(httpx.get(f"{ui}/models/fraud/aliases").text)
    assert "none → 1 set by" in timeline
    assert "first release" in timeline


def test_an_alias_timeline_pages_back_through_older_moves(ui: str) -> None:
    first = httpx.get(f"{ui}/models/churn/aliases").text
    assert re.findall(r"move (\d+)", text(first)) == [str(i) for i in range(24, 4, -1)]  # newest 20, newest first
    older = re.search(r'id="older-production" href="([^"]+)"', first)
    assert older is not None
    rest = httpx.get(f"{ui}/models/churn/aliases{html.unescape(older.group(1))}").text
    assert re.findall(r"move (\d+)", text(rest)) == ["4", "3", "2", "1", "0"]
    assert 'id="older-production"' not in rest


def test_the_validations_page_pages_back_through_older_ones(ui: str) -> None:
    first = httpx.get(f"{ui}/models/churn/validations").text
    assert first.count('class="validation"') == 50
    older = re.search(r'id="older" href="([^"]+)"', first)
    assert older is not None
    rest = httpx.get(f"{ui}/models/churn/validations{html.unescape(older.group(1))}").text
    assert re.findall(r'<td class="num">(\d+)</td>', rest) == [str(100 + i) for i in range(4, -1, -1)]  # requests
    assert 'id="older"' not in rest


def test_the_drift_and_validation_pages_say_what_the_cli_says(ui: str, home: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(5_000, 4)).astype(np.float32)
    x[:, 0] += 3.0  # the recorded x[0] sits three deviations below this reference; the others are where they were
    np.savez(tmp_path / "ref.npz", x=x)
    run_cli(home, "reference", "set", "fraud/1", str(tmp_path / "ref.npz"))
    said = json.loads(run_cli(home, "drift", "fraud@production", "--json", ok=False).stdout)
    expected = [(f["name"], {True: "drift", False: "fine", None: "unknown"}[f["drift"]])
                for w in said["windows"] for f in w["features"]]  # fmt: skip
    page = httpx.get(f"{ui}/models/fraud/drift", params={"ref": "production", "since": "24h"}).text
    assert re.findall(r'class="feature" data-name="([^"]+)" data-drift="([^"]+)"', page) == expected
    assert ("x[0]", "drift") in expected
    assert ("x[1]", "drift") not in expected  # unmoved: fine, or too few rows to say; never a false alarm
    run_cli(home, "validate", "fraud", "--candidate", "3", "--baseline", "production", ok=False)
    listed = httpx.get(f"{ui}/models/fraud/validations").text
    number = re.search(r'data-verdict="fail"><td><a href="/models/fraud/validations/(\d+)"', listed)
    assert number is not None
    one = httpx.get(f"{ui}/models/fraud/validations/{number.group(1)}").text
    stored = json.loads(run_cli(home, "validations", "fraud", "--json").stdout)
    checks = next(v for v in stored if str(v["id"]) == number.group(1))["checks"]
    state = {True: "pass", False: "fail", None: "inconclusive"}
    rows = re.findall(r'class="check" data-name="([^"]+)" data-verdict="([^"]+)"', one)
    assert rows == [(html.escape(c["name"]), state[c["passed"]]) for c in checks]  # every check, in order
    assert ("y: within tolerance", "fail") in rows
    assert all(c["detail"] in text(one) for c in checks)


def test_the_jobs_page_lists_a_batch_job_with_its_rows_and_status(ui: str, home: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "rows.npy", np.random.default_rng(2).normal(size=(300, 4)).astype(np.float32))
    run_cli(home, "batch", "fraud@production", str(tmp_path / "rows.npy"), "--output", str(tmp_path / "scores"))
    page = httpx.get(f"{ui}/jobs", params={"model": "fraud"}).text
    job = re.search(r'<tr class="job" data-status="([a-z]+)">(.*?)</tr>', page, re.S)
    assert job is not None
    assert job.group(1) == "done"
    cells = text(job.group(2))
    assert "fraud/1" in cells
    assert "300 300 0 local" in cells  # rows, scored, errors, engine
    assert str(tmp_path / "scores") in cells
    assert 'class="job"' in httpx.get(f"{ui}/models/fraud/versions/1").text  # the version that scored it lists it
    assert 'class="job"' not in httpx.get(f"{ui}/models/fraud/versions/2").text


@pytest.mark.parametrize(("path", "status", "says"), [
    ("/models/nobody", 404, "'nobody' is not registered"),
    ("/models/fraud/versions/99", 404, "99"),
    ("/models/fraud/versions/two", 400, "'two' is not a version number"),
    ("/models/fraud/compare?a=1", 400, "b: ''"),
    ("/models/fraud/drift?since=forever", 400, "since: one of"),
    ("/no/such/page", 404, "no page at /no/such/page"),
    ("/models/fraud/versions/%C2%B2", 400, "'²' is not a version number"),  # a digit to str.isdigit, not to int
    ("/models/fraud/validations/99999999999999999999999", 400, "is not a validation number"),  # past SQLite's
    ("/models/churn/aliases?alias=production&before=%C2%B2", 400, "before: '²' is not a move number"),
    ("/jobs?model=nope", 404, "no model named 'nope'"),
])  # fmt: skip
def test_bad_addresses_get_a_page_that_says_why(ui: str, path: str, status: int, says: str) -> None:
    response = httpx.get(f"{ui}{path}")
    assert response.status_code == status
    assert says in text(response.text)
    assert "Traceback" not in response.text


def test_what_an_address_or_a_forged_cookie_cannot_make_the_page_say(ui: str) -> None:
    fake = httpx.get(f"{ui}/models/fraud/aliases", params={"done": "fraud@production: 1 → 9 (validation #9 pass)"})
    assert "1 → 9" not in fake.text  # the banner is read back from the registry, by the move's id
    fake = httpx.get(f"{ui}/models/fraud/aliases", params={"moved": "999999"})
    assert 'id="done"' not in fake.text
    cookie = "modelyard_ui=ada|9999999999|é".encode()  # raw bytes: compare_digest raised on such a str (a 500)
    forged = httpx.get(f"{ui}/models", headers=[(b"cookie", cookie)])
    assert forged.status_code == 200
    assert "sign in to promote" in forged.text  # nobody, not a 500
    gone = httpx.get(f"{ui}/api/servers/no-such-server/live")
    assert gone.status_code == 404
    assert "no live server 'no-such-server'" in gone.json()["error"]  # the charts' API answers JSON
    rebound = httpx.get(f"{ui}/models", headers={"Host": "attacker.example"})
    assert rebound.status_code == 400  # on loopback only loopback names: no DNS rebinding


def signed_in(ui: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=ui)
    client.post("/signin", data={"name": "ada", "token": TOKEN, "back": "/"})
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get("/models/fraud/aliases").text)
    assert csrf is not None
    return client, csrf.group(1)


def test_writes_need_the_token_a_fresh_page_and_the_form_s_own_key(ui: str) -> None:
    form = {"from": "staging", "to": "production", "seen": "production=1,staging=3"}
    refused = httpx.post(f"{ui}/models/fraud/promote", data=form)
    assert refused.status_code == 401
    assert "sign in" in refused.text
    wrong = httpx.post(f"{ui}/signin", data={"name": "eve", "token": "guess", "back": "/"})
    assert wrong.status_code == 401
    assert "not this dashboard's token" in text(wrong.text)
    client, csrf = signed_in(ui)
    try:
        forged = client.post("/models/fraud/promote", data={**form, "csrf": "0" * 64})
        assert forged.status_code == 403
        assert "csrf" in forged.text
        stale = client.post("/models/fraud/promote", data={**form, "seen": "production=2,staging=3", "csrf": csrf})
        assert stale.status_code == 409
        assert "the page was stale" in stale.text
        assert httpx.get(f"{ui}/models/fraud/aliases").text.count('data-kind="set"') == 2  # nothing moved
    finally:
        client.close()


def shot(browser, name: str) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / f"{name}.png"))


def test_in_a_browser_a_refusal_shows_its_reasons_and_a_pass_moves_the_alias(browser, ui: str, home: Path) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    def find(css: str):  # type: ignore[no-untyped-def]
        return wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, css), 10, what=css)[0]

    browser.get(f"{ui}/models")
    assert find('tr.model[data-name="fraud"]').text.startswith("fraud")
    shot(browser, "models")
    browser.get(f"{ui}/models/fraud/versions/1")
    plot = find("#profile-plot canvas")  # uPlot drew the card's curves
    assert plot.is_displayed()
    assert find("#profile-plot").get_attribute("data-points") == "4"
    shot(browser, "version")
    browser.get(f"{ui}/signin?back=/models/fraud/aliases")
    find("#name").send_keys("ada")
    find("#token").send_keys(TOKEN)
    find("#signin").click()
    assert find("#viewer").text == "ada"
    find("#reason").send_keys("looks fine to me")
    find("#promote").click()  # staging is 3, other weights: refused, with the checks that failed
    error = find("#error").text
    assert "fraud@production stays at 1" in error
    assert browser.find_elements(By.CSS_SELECTOR, "#refused .checks li.fail")
    shot(browser, "refused")
    run_cli(home, "alias", "set", "fraud@staging", "2")  # the same model: passes
    browser.get(f"{ui}/models/fraud/aliases")
    find("#reason").send_keys("same answers on production's traffic")
    find("#promote").click()
    assert "fraud@production: 1 → 2" in find("#done").text
    newest = find("#alias-production li.event")
    assert newest.get_attribute("data-to") == "2"
    assert "ada (ui)" in newest.text
    assert "pass" in newest.text
    shot(browser, "aliases")
    history = run_cli(home, "alias", "history", "fraud@production").stdout
    assert "ada (ui)" in history
    assert "same answers" in history  # the CLI sees the page's move, and who made it
    find("#rollback-production").click()
    rolled = "fraud@production: 2 → 1 (rollback)"
    wait_until(lambda: rolled in browser.execute_script("return document.getElementById('done')?.textContent ?? ''"),
               10, what=rolled)  # fmt: skip
    for name, path, css in (("compare", "/models/fraud/compare?a=1&b=3", "tr.changed"),
                            ("validations", "/models/fraud/validations", "tr.validation"),
                            ("drift", "/models/fraud/drift", "h1"),  # features once the drift test set a reference
                            ("jobs", "/jobs", "h1")):  # fmt: skip
        browser.get(f"{ui}{path}")
        assert find(css).is_displayed(), name
        shot(browser, name)  # the README's pictures


def test_in_a_browser_the_server_charts_move_while_a_load_runs(browser, ui: str, home: Path) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    server = start_server(["fraud@production", "--grpc-port", "0"], home)
    stop = threading.Event()

    def load() -> None:
        x = np.ones((1, 4), np.float32)
        with Client(server.url) as client:
            while not stop.is_set():
                client.infer("fraud@production", {"x": x})

    thread = threading.Thread(target=load, daemon=True)
    try:
        wait_until(lambda: "fraud" in httpx.get(f"{ui}/servers").text, 20, what="the server listed")
        thread.start()
        browser.get(f"{ui}/servers")
        section = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "section.server"), 10, what="server")[0]
        wait_until(lambda: int(section.get_attribute("data-readings") or 0) >= 3, 30, what="three readings")
        cell = section.find_element(By.CSS_SELECTOR, 'tr.served-version td[data-metric="rps"]')
        assert float(cell.text.replace(",", "")) > 0  # requests per second while the load runs
        assert section.find_elements(By.CSS_SELECTOR, '[data-figure="rps"] canvas')
        shot(browser, "servers")
    finally:
        stop.set()
        thread.join(timeout=10)
        stop_server(server)


def test_after_the_page_s_moves_drift_still_names_the_newest_window_that_saw_traffic(ui: str, home: Path) -> None:
    """Run after the browser's promotion and rollback (when chromium is there): production's newest windows then
    saw no request, and `features` is that of the newest window with some, not an empty list beside drift: true."""
    said = json.loads(run_cli(home, "drift", "fraud@production", "--json", ok=False).stdout)
    with_traffic = [w for w in said["windows"] if w["features"]]
    assert with_traffic
    assert said["features"] == with_traffic[-1]["features"]
    assert said["features"]
    page = httpx.get(f"{ui}/models/fraud/drift", params={"ref": "production"}).text
    assert page.count('<section class="window"') == len(said["windows"])  # the page cuts the same windows
