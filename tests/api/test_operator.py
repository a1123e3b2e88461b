"""What an operator sees: /docs offline, /metrics summed over workers, JSON logs, and one-line
exit-2 answers to configuration mistakes."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.guarded import serving
from tests.conftest import database_url_for
from tests.helpers import credit_request, new_account, ok_json
from tests.notify_servers import assert_verified, fresh_database, notify_server
from tests.receiver import Receiver
from tests.servers import Server, run_cli


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def two_workers(
    request: pytest.FixtureRequest,
    database_urls: dict[str, str | None],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    url = database_url_for(request.param, database_urls)
    state = tmp_path_factory.mktemp("two-workers")
    with serving(
        url, state, workers=2, log_level="info", GRANTLEDGER_TEST_SWEEP_INTERVAL="1"
    ) as srv:
        yield srv


def _sample(text: str, name: str, **labels: str) -> float:  # float-ok: a metric value
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    total = 0.0  # float-ok: a metric value
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        found = head[len(name) :]
        pairs = ",".join(sorted(re.findall(r'\w+="[^"]*"', found)))
        if (found == "" and not labels) or pairs == wanted:
            total += float(value)  # float-ok: a metric value
    return total


def test_docs_load_nothing_from_another_host(two_workers: Server) -> None:
    page = httpx.get(two_workers.base_url + "/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
    assert urls, page.text
    for url in urls:
        assert not re.match(r"^(https?:)?//", url), url
        assert httpx.get(two_workers.base_url + url).status_code == 200, url
    assert "swagger-ui-bundle.js" in page.text
    assert httpx.get(two_workers.base_url + "/redoc").status_code in (401, 404)


def test_metrics_add_up_every_worker(two_workers: Server) -> None:
    base = two_workers.base_url
    before = httpx.get(base + "/metrics").text
    # A fresh connection per request: the kernel spreads them over both workers.
    for _ in range(40):
        assert httpx.get(base + "/openapi.json").status_code == 200
    with two_workers.client() as api:
        assert api.post("/entitled", json={}).status_code == 400
    scrapes = [httpx.get(base + "/metrics").text for _ in range(6)]
    for after in scrapes[:1]:
        counted = _sample(
            after,
            "grantledger_http_requests_total",
            method="GET",
            route="/openapi.json",
            status="200",
        ) - _sample(
            before,
            "grantledger_http_requests_total",
            method="GET",
            route="/openapi.json",
            status="200",
        )
        assert counted == 40
        assert 'route="unmatched",status="200"' not in after
        assert _sample(after, "grantledger_gate_decisions_total", decision="error") >= 1
        assert "grantledger_db_pool_connections_in_use" in after
        assert _sample(after, "grantledger_sweeper_last_success_timestamp_seconds") > 1.7e9
    # Whichever worker answers, the totals agree.
    totals = {
        _sample(
            s, "grantledger_http_requests_total", method="GET", route="/openapi.json", status="200"
        )
        for s in scrapes
    }
    assert len(totals) == 1


def test_every_log_line_after_the_banner_is_json(two_workers: Server) -> None:
    httpx.get(two_workers.base_url + "/healthz")
    assert two_workers.log_path is not None
    lines = two_workers.log_path.read_text().splitlines()
    banner_end = next(i for i, line in enumerate(lines) if line.startswith("Serving on"))
    logged = [json.loads(line) for line in lines[banner_end + 1 :] if line.strip()]
    loggers = {entry["logger"] for entry in logged}
    assert "uvicorn.error" in loggers, loggers
    assert all({"ts", "level", "message"} <= set(entry) for entry in logged)


def _one_line_exit_2(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr


def test_an_unknown_log_level_is_one_line(tmp_path: Path) -> None:
    env = {
        "GRANTLEDGER_LOG_LEVEL": "loud",
        "GRANTLEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
    }
    done = subprocess.run(
        [sys.executable, "-m", "grantledger", "migrate"],
        env={**_base_env(), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "GRANTLEDGER_LOG_LEVEL" in _one_line_exit_2(done)


def _base_env() -> dict[str, str]:
    import os

    return dict(os.environ)


@pytest.mark.parametrize("command", [["migrate"], ["keys", "list", "--org", "x"], ["serve"]])
def test_an_unreachable_database_is_one_line(command: list[str]) -> None:
    with socket.socket() as closed_port:
        closed_port.bind(("127.0.0.1", 0))
        port = closed_port.getsockname()[1]
    args = [*command, "--port", str(_free_port())] if command == ["serve"] else command
    done = run_cli(f"postgresql://postgres@127.0.0.1:{port}/nothing", *args)
    assert "cannot use the database" in _one_line_exit_2(done)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unwritable_data_directory_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    done = run_cli(f"sqlite:///{blocker}/data/grantledger.db", "migrate")
    assert "cannot use the database" in _one_line_exit_2(done)


def test_a_port_in_use_is_one_line_before_migrating(tmp_path: Path) -> None:
    database = tmp_path / "never.db"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli(f"sqlite:///{database}", "serve", "--port", str(port))
    assert f"127.0.0.1:{port}" in _one_line_exit_2(done)
    assert not database.exists()


def _scrape(server: Server) -> str:
    r = httpx.get(server.base_url + "/metrics", timeout=30)
    assert r.status_code == 200
    return r.text


def test_grants_are_counted_once_and_a_due_message_shows_its_lag(server: Server) -> None:
    """The shared server delivers nothing (its worker is off), so a message stays due."""
    server.set_clock(None)
    with server.client() as api:
        account = new_account(api)
        ok_json(api.post("/webhook_endpoints", json={"url": "http://127.0.0.1:9/"}), 201)
        before = _scrape(server)
        pair = [credit_request(account, 5), credit_request(account, 7, idempotencyKey="k")]
        ok_json(api.post("/credits", json={"creditRequests": pair}))
        ok_json(api.post("/credits", json={"creditRequests": pair[1:]}))  # a replay
        time.sleep(1.2)
        after = _scrape(server)
    granted = "grantledger_credits_granted_total"
    assert _sample(after, granted) - _sample(before, granted) == 2
    assert _sample(after, "grantledger_outbox_read_success") == 1
    assert _sample(after, "grantledger_outbox_oldest_due_seconds") >= 1
    assert "grantledger_outbox_failed_messages" in after


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def delivering(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp(f"delivering-{request.param}")
    for url in fresh_database(request.param, directory):
        server = notify_server(url, directory, GRANTLEDGER_WEBHOOK_RETRY_SECONDS="1")
        try:
            yield server
        finally:
            server.stop()
            assert_verified(url)


def test_deliveries_are_counted_by_outcome_and_failures_are_seen(delivering: Server) -> None:
    assert _sample(_scrape(delivering), "grantledger_outbox_failed_messages") == 0
    good, bad = Receiver(), Receiver(answer=lambda _n: 500)
    try:
        with delivering.client() as api:
            account = new_account(api)
            for receiver in (good, bad):
                endpoint = {"url": receiver.url, "eventTypes": ["credit.granted"]}
                ok_json(api.post("/webhook_endpoints", json=endpoint), 201)
            ok_json(api.post("/credits", json={"creditRequests": [credit_request(account, 5)]}))
        deadline = time.monotonic() + 30
        while True:
            text = _scrape(delivering)
            if _sample(text, "grantledger_outbox_failed_messages") >= 1:
                break
            assert time.monotonic() < deadline, text
            time.sleep(0.3)
        deliveries = "grantledger_webhook_deliveries_total"
        assert _sample(text, deliveries, outcome="delivered") == 1
        # One attempt, one retry a second later, then no attempt left.
        assert _sample(text, deliveries, outcome="retrying") == 1
        assert _sample(text, deliveries, outcome="failed") == 1
        assert _sample(text, "grantledger_outbox_failed_messages") == 1
        assert _sample(text, "grantledger_outbox_oldest_due_seconds") == 0
        assert _sample(text, "grantledger_outbox_read_success") == 1
        assert len(bad.snapshot()) == 2 and len(good.delivered()) == 1
    finally:
        good.close()
        bad.close()


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("GRANTLEDGER_DATABASE_URL", "mysql://root:hunter2@db/ledger", "mysql://"),
        ("GRANTLEDGER_DATABASE_URL", "not a url at all", "GRANTLEDGER_DATABASE_URL"),
        ("GRANTLEDGER_WEBHOOK_RETRY_SECONDS", "5,soon", "GRANTLEDGER_WEBHOOK_RETRY_SECONDS"),
        ("GRANTLEDGER_WEBHOOK_TIMEOUT", "-1", "GRANTLEDGER_WEBHOOK_TIMEOUT"),
        ("GRANTLEDGER_SECRET_KEY", "too-short", "GRANTLEDGER_SECRET_KEY"),
        ("GRANTLEDGER_SECRET_KEY_FILE", "/", "GRANTLEDGER_SECRET_KEY_FILE"),
    ],
)
def test_a_bad_database_url_webhook_or_secret_setting_is_one_line(
    tmp_path: Path, setting: str, value: str, named: str
) -> None:
    env = {
        **_base_env(),
        "GRANTLEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
        "GRANTLEDGER_SECRET_KEY_FILE": str(tmp_path / "server.key"),
        setting: value,
    }
    if setting != "GRANTLEDGER_SECRET_KEY":
        env.pop("GRANTLEDGER_SECRET_KEY", None)
    done = subprocess.run(
        [sys.executable, "-m", "grantledger", "serve", "--port", str(_free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    said = _one_line_exit_2(done)
    assert named in said
    assert "hunter2" not in said  # a password in the URL is never repeated


def test_metrics_can_be_protected_by_a_bearer_token(tmp_path: Path) -> None:
    token = "scrape-" + "x7" * 12
    url = f"sqlite:///{tmp_path}/metrics.db"
    with serving(url, tmp_path, GRANTLEDGER_METRICS_TOKEN=token) as srv:
        scrape = srv.base_url + "/metrics"
        assert httpx.get(scrape).status_code == 401
        wrong = httpx.get(scrape, headers={"Authorization": "Bearer scrape-guess"})
        assert wrong.status_code == 401 and "metrics token" in wrong.json()["message"]
        right = httpx.get(scrape, headers={"Authorization": f"Bearer {token}"})
        assert right.status_code == 200 and "grantledger_http_requests_total" in right.text
        # Health checks stay open; an API key is no metrics token.
        assert httpx.get(srv.base_url + "/healthz").status_code == 200
        with srv.client() as api:
            assert api.get("/metrics").status_code == 401


def test_a_short_metrics_token_is_one_line(tmp_path: Path) -> None:
    env = {
        **_base_env(),
        "GRANTLEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
        "GRANTLEDGER_METRICS_TOKEN": "short",
    }
    done = subprocess.run(
        [sys.executable, "-m", "grantledger", "serve", "--port", str(_free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "GRANTLEDGER_METRICS_TOKEN" in _one_line_exit_2(done)
