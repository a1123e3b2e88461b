"""Races on one account across two worker processes sharing one PostgreSQL database.

Correctness must come from the database (row locks, unique constraints, retries), never from
process memory: every request below may land on either worker. Threads start together on a
barrier; nothing waits by sleeping.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.servers import Server, run_cli

T = TypeVar("T")
THREADS = 32


@pytest.fixture(scope="module")
def pg_server(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    state: Path = tmp_path_factory.mktemp("pg-two-workers")
    server = Server(database_url=pg_url, clock_file=state / "clock", workers=2)
    server.start(state)
    yield server
    server.stop()


@pytest.fixture
def key(pg_server: Server) -> str:
    return pg_server.key()


def parse(response: httpx.Response) -> dict[str, Any]:
    """A JSON body with exact numbers."""
    body: dict[str, Any] = response.json(parse_float=Decimal)
    return body


def race(server: Server, key: str, jobs: list[Callable[[httpx.Client], T]]) -> list[T]:
    """Run every job at once: each thread keeps its own connection, all start on one barrier."""
    local = threading.local()
    clients: list[httpx.Client] = []
    guard = threading.Lock()
    width = min(THREADS, len(jobs))
    barrier = threading.Barrier(width)

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = server.client(key)
            with guard:
                clients.append(local.client)
            barrier.wait(timeout=30)  # every thread is connected before the first request
        c: httpx.Client = local.client
        return c

    def run(job: Callable[[httpx.Client], T]) -> T:
        return job(client())

    try:
        with ThreadPoolExecutor(max_workers=width) as pool:
            # Warm each thread first so that the barrier holds exactly `width` parties.
            list(pool.map(lambda _: client(), range(width)))
            return list(pool.map(run, jobs))
    finally:
        for c in clients:
            c.close()


def new_account(api: httpx.Client) -> str:
    account_id = "acc-" + secrets.token_hex(4)
    r = api.post(
        "/customers",
        json={
            "id": "cus-" + secrets.token_hex(4),
            "name": "Race customer",
            "primaryEmail": "race@example.com",
            "address": {},
            "account": {"id": account_id, "name": "Race account"},
        },
    )
    assert r.status_code == 201, r.text
    return account_id


def grant(api: httpx.Client, account_id: str, amount: int, priority: int = 1) -> str:
    request = {
        "accountId": account_id,
        "purpose": "Prepaid Credit",
        "effectiveFrom": "2020-01-01",
        "priority": priority,
        "creditAmount": amount,
    }
    r = api.post("/credits", json={"creditRequests": [request]})
    assert r.status_code == 200, r.text
    credit_id: str = r.json()["credits"][0]["id"]
    return credit_id


def balance(api: httpx.Client, account_id: str) -> dict[str, Any]:
    r = api.get(f"/accounts/{account_id}/credit_balance")
    assert r.status_code == 200, r.text
    return parse(r)


def assert_ledger_consistent(pg_url: str) -> None:
    result = run_cli(pg_url, "verify")
    assert result.returncode == 0, result.stdout + result.stderr


def test_parallel_debits_never_overdraw(pg_server: Server, key: str, pg_url: str) -> None:
    with pg_server.client(key) as api:
        account = new_account(api)
        credit_ids = [grant(api, account, 20, priority=1), grant(api, account, 30, priority=2)]

    def debit(n: int) -> Callable[[httpx.Client], dict[str, Any]]:
        def job(c: httpx.Client) -> dict[str, Any]:
            body = {"invoiceId": f"inv-{n}", "lines": [{"entityId": "api-calls", "amount": 1}]}
            r = c.post(f"/accounts/{account}/credit_debits", json=body)
            assert r.status_code == 200, r.text
            return {"kind": "debit", **parse(r)}

        return job

    def read(c: httpx.Client) -> dict[str, Any]:
        return {"kind": "balance", **balance(c, account)}

    jobs: list[Callable[[httpx.Client], dict[str, Any]]] = []
    for n in range(100):
        jobs.append(debit(n))
        if n % 5 == 0:
            jobs.append(read)  # balance reads interleaved with the writers
    started = time.monotonic()
    results = race(pg_server, key, jobs)
    elapsed = time.monotonic() - started

    debits = [r for r in results if r["kind"] == "debit"]
    covered = Counter(r["coveredAmount"] for r in debits)
    assert covered == {1: 50, 0: 50}, covered
    assert len({r["id"] for r in debits}) == 100
    for r in debits:
        assert r["status"] == "CAPTURED"
        assert r["coveredAmount"] + r["uncoveredAmount"] == 1
    for seen in (r for r in results if r["kind"] == "balance"):
        assert 0 <= seen["runningBalance"] <= seen["availableBalance"] <= 50
    print(
        f"\n100 parallel debits on 2 workers: {covered[1]} covered, {covered[0]} refused, "
        f"{elapsed:.2f}s"
    )

    with pg_server.client(key) as api:
        final = balance(api, account)
        assert final["availableBalance"] == 0
        assert final["runningBalance"] == 0
        assert final["activeCredits"] == 0  # both credits are CONSUMED
        for credit_id in credit_ids:
            details = api.get(f"/credits/{credit_id}").json(parse_float=Decimal)
            assert details["status"] == "CONSUMED"
            assert details["consumedAmount"] == details["creditAmount"]
            assert details["holdAmount"] == 0
            debited = [t for t in details["transactions"] if t["transactionType"] == "DEBITED"]
            assert sum(t["amount"] for t in debited) == details["creditAmount"]
    assert_ledger_consistent(pg_url)


def test_parallel_grants_with_one_idempotency_key(pg_server: Server, key: str, pg_url: str) -> None:
    with pg_server.client(key) as api:
        account = new_account(api)
    payload = {
        "creditRequests": [
            {
                "accountId": account,
                "purpose": "Prepaid Credit",
                "effectiveFrom": "2020-01-01",
                "priority": 1,
                "creditAmount": 12.5,
                "idempotencyKey": "once-" + account,
            }
        ]
    }

    def job(c: httpx.Client) -> tuple[int, str]:
        r = c.post("/credits", json=payload)
        return r.status_code, r.json()["credits"][0]["id"] if r.status_code == 200 else r.text

    started = time.monotonic()
    results = race(pg_server, key, [job] * 20)
    elapsed = time.monotonic() - started
    assert {status for status, _ in results} == {200}, results
    ids = {credit_id for _, credit_id in results}
    assert len(ids) == 1
    print(f"\n20 parallel replays of one idempotencyKey: 1 credit, {elapsed:.2f}s")

    with pg_server.client(key) as api:
        listed = api.get("/credits", params={"account_id": account}).json()
        assert [c["id"] for c in listed["data"]] == list(ids)
        details = api.get(f"/credits/{ids.pop()}").json(parse_float=Decimal)
        assert [t["transactionType"] for t in details["transactions"]] == ["CREDITED"]
        assert balance(api, account)["availableBalance"] == Decimal("12.5")
    assert_ledger_consistent(pg_url)


def test_parallel_holds_then_captures_and_releases(
    pg_server: Server, key: str, pg_url: str
) -> None:
    with pg_server.client(key) as api:
        account = new_account(api)
        grant(api, account, 40, priority=1)
        grant(api, account, 60, priority=2)
    amount = Decimal("1.5")

    def hold(n: int) -> Callable[[httpx.Client], dict[str, Any]]:
        def job(c: httpx.Client) -> dict[str, Any]:
            body = {
                "invoiceId": f"inv-{n}",
                "lines": [{"entityId": "api-calls", "amount": 1.5}],
            }
            r = c.post(f"/accounts/{account}/credit_holds", json=body)
            assert r.status_code == 200, r.text
            return parse(r)

        return job

    started = time.monotonic()
    held = race(pg_server, key, [hold(n) for n in range(50)])
    assert all(h["status"] == "HELD" and h["coveredAmount"] == amount for h in held)
    with pg_server.client(key) as api:
        mid = balance(api, account)
    assert mid["availableBalance"] == 100
    assert mid["runningBalance"] == 100 - 50 * amount

    def settle(n: int, verb: str) -> Callable[[httpx.Client], tuple[int, str, int]]:
        def job(c: httpx.Client) -> tuple[int, str, int]:
            r = c.post(f"/accounts/{account}/credit_holds/inv-{n}/{verb}")
            assert r.status_code in (200, 409), r.text
            return n, verb, r.status_code

        return job

    # Invoices 0-19 are captured, 20-39 released, each twice at once (the repeat is a replay);
    # 40-49 get a capture and a release at the same moment: exactly one of the two may win.
    jobs = [settle(n, "capture") for n in range(20) for _ in range(2)]
    jobs += [settle(n, "release") for n in range(20, 40) for _ in range(2)]
    jobs += [settle(n, verb) for n in range(40, 50) for verb in ("capture", "release")]
    outcomes = race(pg_server, key, jobs)
    elapsed = time.monotonic() - started

    for n, verb, status in outcomes:
        if n < 40:
            assert status == 200, (n, verb, status)
    winners: dict[int, str] = {}
    for n in range(40, 50):
        statuses = {verb: status for m, verb, status in outcomes if m == n}
        assert sorted(statuses.values()) == [200, 409], (n, statuses)
        winners[n] = next(verb for verb, status in statuses.items() if status == 200)
    captured = 20 + sum(1 for verb in winners.values() if verb == "capture")
    print(
        f"\n50 parallel holds then 100 settlements: {captured} captured, "
        f"{50 - captured} released, {elapsed:.2f}s"
    )

    with pg_server.client(key) as api:
        for n in range(50):
            hold_state = parse(api.get(f"/accounts/{account}/credit_holds/inv-{n}"))
            expected = "CAPTURED" if n < 20 or winners.get(n) == "capture" else "RELEASED"
            assert hold_state["status"] == expected, (n, hold_state)
        final = balance(api, account)
        assert final["availableBalance"] == 100 - captured * amount
        assert final["runningBalance"] == final["availableBalance"]
        listed = parse(api.get("/credits", params={"account_id": account}))
        assert sum(c["consumedAmount"] for c in listed["data"]) == captured * amount
        assert all(c["holdAmount"] == 0 for c in listed["data"])
    assert_ledger_consistent(pg_url)


def test_replays_void_and_expiry_racing_with_debits(
    pg_server: Server, key: str, pg_url: str
) -> None:
    """One invoice sent ten times, a void, and a due expiry, all amid forty debits."""
    pg_server.set_clock("2030-06-21T09:00:00Z")
    try:
        with pg_server.client(key) as api:
            account = new_account(api)
            first = grant(api, account, 30, priority=1)
            second = grant(api, account, 30, priority=2)
            r = api.post(
                "/credits",
                json={
                    "creditRequests": [
                        {
                            "accountId": account,
                            "purpose": "Ended yesterday",
                            "effectiveFrom": "2030-01-01",
                            "effectiveUntil": "2030-06-20",
                            "priority": 0,
                            "creditAmount": 7.5,
                        }
                    ]
                },
            )
            assert r.status_code == 200, r.text
            ended = r.json()["credits"][0]["id"]

        def debit(invoice: str, amount: int) -> Callable[[httpx.Client], dict[str, Any]]:
            def job(c: httpx.Client) -> dict[str, Any]:
                body = {"invoiceId": invoice, "lines": [{"entityId": "api", "amount": amount}]}
                r = c.post(f"/accounts/{account}/credit_debits", json=body)
                assert r.status_code == 200, r.text
                return {"kind": "debit", **parse(r)}

            return job

        def void(c: httpx.Client) -> dict[str, Any]:
            r = c.post(f"/credits/{second}/void")
            assert r.status_code == 200, r.text
            return {"kind": "void", **parse(r)}

        def read(c: httpx.Client) -> dict[str, Any]:
            r = c.get(f"/credits/{ended}")
            assert r.status_code == 200, r.text
            return {"kind": "read", **parse(r)}

        jobs: list[Callable[[httpx.Client], dict[str, Any]]] = []
        for n in range(40):
            jobs.append(debit(f"inv-{n}", 1))
            if n % 4 == 0:
                jobs.append(debit("inv-same", 5))
                jobs.append(read)
            if n == 20:
                jobs.append(void)
        results = race(pg_server, key, jobs)

        same = [r for r in results if r["kind"] == "debit" and r["invoiceId"] == "inv-same"]
        assert len(same) == 10 and len({r["id"] for r in same}) == 1
        assert all(r["status"] == "CAPTURED" for r in same)
        for r in (r for r in results if r["kind"] == "read"):
            assert r["status"] == "EXPIRED"
            assert [t["transactionType"] for t in r["transactions"]] == ["CREDITED", "EXPIRED"]
        holds = {r["id"]: r for r in results if r["kind"] == "debit"}
        assert len(holds) == 41
        covered = sum(r["coveredAmount"] for r in holds.values())
        assert all(
            a["creditId"] != ended
            for r in holds.values()
            for ln in r["lines"]
            for a in ln["credits"]
        )

        with pg_server.client(key) as api:
            a, b, e = (parse(api.get(f"/credits/{i}")) for i in (first, second, ended))
            assert b["status"] == "VOIDED"
            voided = [t["amount"] for t in b["transactions"] if t["transactionType"] == "VOIDED"]
            assert voided == [30 - b["consumedAmount"]]
            assert a["consumedAmount"] + b["consumedAmount"] == covered
            assert [t["amount"] for t in e["transactions"]] == [Decimal("7.5")] * 2
            final = balance(api, account)
            assert final["availableBalance"] == 30 - a["consumedAmount"]
            assert final["runningBalance"] == final["availableBalance"]
    finally:
        pg_server.set_clock(None)
    assert_ledger_consistent(pg_url)
