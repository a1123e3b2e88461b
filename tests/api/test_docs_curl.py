"""The `curl` examples of README.md and docs/*.md, run as written against a real server.

Every ```sh block that calls curl is run, in order, in one bash script per page, with only
`localhost:8000` pointed at the test server and `data/dev-api-key` holding a key of a brand-new
organization (so the pages' fixed ids never collide with an earlier run). Each curl must answer
2xx; the figures the README's comments promise are checked too. The tour takes its dates from
`date -u`; here `date` tells the server's frozen clock, so any day the suite runs on is the
tour's day. Run a second time on the same organization, the tour answers only 409s for what
already exists and ends with the same figures.
"""

from __future__ import annotations

import json
import re
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import error_message, ok_json
from tests.servers import Server

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)
TOUR_DAY = "2026-11-24T12:00:00Z"

# Every curl of the page goes through this: the answer's body is kept, its status recorded.
PRELUDE = """
n=0
date() { command date -d "$TOUR_DAY" "$@"; }
curl() {
  printf '%s\\n' "$@" > "$CALLS/$n.args"
  command curl -sS -o "$CALLS/$n.body" -w '%{http_code}' "$@" > "$CALLS/$n.status" || true
  n=$((n + 1))
}
"""


def curl_blocks(page: Path) -> list[str]:
    return [b for b in SH_BLOCK.findall(page.read_text()) if re.search(r"^curl ", b, re.M)]


PAGES_WITH_CURL = [page for page in PAGES if curl_blocks(page)]


def run_page(
    page: Path, server: Server, tmp_path: Path, key: str | None = None
) -> list[tuple[int, str, Any]]:
    """(status, path, JSON answer) of each curl of the page, in order (as the organization of
    `key`, else of a brand-new one)."""
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "dev-api-key").write_text((key or server.key()) + "\n")
    calls = tmp_path / "calls"
    if calls.exists():
        for old in calls.iterdir():
            old.unlink()
    calls.mkdir(exist_ok=True)
    address = server.base_url.removeprefix("http://")
    script = PRELUDE + "\n".join(curl_blocks(page)).replace("localhost:8000", address)
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "CALLS": str(calls), "TOUR_DAY": TOUR_DAY},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    answers = []
    for n in range(len(list(calls.glob("*.args")))):
        args = (calls / f"{n}.args").read_text()
        status = (calls / f"{n}.status").read_text()
        body = (calls / f"{n}.body").read_text() if (calls / f"{n}.body").exists() else ""
        path = re.search(r"127\.0\.0\.1:\d+(/\S*)", args)
        assert path is not None, args
        answers.append(
            (
                int(status or 0),
                path.group(1),
                json.loads(body, parse_float=Decimal) if body else None,
            )
        )
    return answers


def test_the_pages_with_curl_examples_include_every_tour_block() -> None:
    # Guards the runner itself: the README's tour must be found, or nothing below runs it.
    assert ROOT / "README.md" in PAGES_WITH_CURL
    assert len(curl_blocks(ROOT / "README.md")) == 3


@pytest.mark.parametrize("page", PAGES_WITH_CURL, ids=lambda p: p.name)
def test_every_curl_example_answers_2xx(page: Path, clock: Server, tmp_path: Path) -> None:
    clock.set_clock(TOUR_DAY)
    answers = run_page(page, clock, tmp_path)
    assert answers, f"no curl ran from {page.name}"
    for status, path, body in answers:
        assert 200 <= status < 300, (status, path, body)


def test_the_readme_tour_says_what_the_server_answers(clock: Server, tmp_path: Path) -> None:
    clock.set_clock(TOUR_DAY)
    answers = run_page(ROOT / "README.md", clock, tmp_path)
    by_path = {path: body for _, path, body in answers}
    # "Balance: activeCredits 500, availableBalance 487.66, runningBalance 487.66"
    balance = by_path["/accounts/acme-main/credit_balance"]
    assert (balance["activeCredits"], balance["availableBalance"], balance["runningBalance"]) == (
        500,
        Decimal("487.66"),
        Decimal("487.66"),
    )
    # "The real-time gate: 200 {"success": true} and 1,200 tokens drawn"
    assert by_path["/entitled"] == {"success": True}
    # "granted 10000, balance 8800, overageLimit 2000, usedOverage 0"
    credits = by_path["/accounts/acme-main/features/ai-tokens"]
    assert {k: credits[k] for k in ("granted", "balance", "overageLimit", "usedOverage")} == {
        "granted": 10000,
        "balance": 8800,
        "overageLimit": 2000,
        "usedOverage": 0,
    }
    # "UNDO appends a reversal of each draw → {"data": [{"status": "REVERTED", …}]}"
    [undone] = by_path["/events/correction?action=UNDO"]["data"]
    assert (undone["status"], undone["eventPayload"]["id"]) == ("REVERTED", "req-1-retry")
    listed = by_path["/events?account_id=acme-main"]["events"]
    # (In the same order unless, as here, the server's clock is frozen: then by id.)
    assert {e["eventPayload"]["id"]: e["ingestionStatus"]["status"] for e in listed} == {
        "req-1-retry": "REVERTED",
        "req-1": "INGESTION_COMPLETED_EVENT_METERED",
    }
    entries = by_path["/accounts/acme-main/features/ai-tokens/entries"]["data"]
    assert entries and all(e["id"].startswith("sch.") for e in entries)

    # "The same event id again → 409 "…; it was accepted"; 20,000 tokens → 403 "needed 20000,
    # available 10800", nothing drawn" — said in a comment, so sent here with the tour's own key.
    key = (tmp_path / "data" / "dev-api-key").read_text().strip()
    event = {
        "schemaName": "ai_call",
        "id": "req-1",
        "timestamp": "2026-11-24T10:00:00Z",
        "accountId": "acme-main",
        "attributes": [{"name": "tokens", "value": "1200"}],
        "dimensions": {},
    }
    with clock.client(key) as api:
        again = error_message(api.post("/entitled", json={"event": event}), 409)
        assert again.endswith("; it was accepted"), again
        big = {**event, "id": "req-2", "attributes": [{"name": "tokens", "value": "20000"}]}
        refused = error_message(api.post("/entitled", json={"event": big}), 403)
        assert "needed 20000, available 10800" in refused
        after = ok_json(api.get("/accounts/acme-main/features/ai-tokens"))
    assert after["balance"] == 8800 and after["usedOverage"] == 0
    # "one OPEN incident, runningBalance "87.66""
    [incident] = by_path["/incidents"]["data"]
    assert incident["status"] == "OPEN"
    assert incident["reportData"]["balance"]["runningBalance"] == "87.66"


def test_the_readme_tour_runs_twice_and_ends_with_the_same_figures(
    clock: Server, tmp_path: Path
) -> None:
    figures = ["/accounts/acme-main/credit_balance", "/accounts/acme-main/features/ai-tokens"]

    def ending(key: str) -> dict[str, Any]:
        with clock.client(key) as api:
            return {path: ok_json(api.get(path)) for path in figures}

    clock.set_clock(TOUR_DAY)
    first = run_page(ROOT / "README.md", clock, tmp_path)
    key = (tmp_path / "data" / "dev-api-key").read_text().strip()
    before = ending(key)
    clock.set_clock("2026-11-24T15:00:00Z")
    again = run_page(ROOT / "README.md", clock, tmp_path, key)
    assert [path for _, path, _ in again] == [path for _, path, _ in first]
    creates = {"/customers", "/event_schema", "/features", "/entitlement_plans", "/entitled"}
    for status, path, body in again:
        if status == 409:
            assert path in creates, (path, body)
        else:
            assert 200 <= status < 300, (status, path, body)
    # The second run replays or refuses every write of the first: the account ends where it was.
    assert ending(key) == before
