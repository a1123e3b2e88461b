"""The journal on the wire (issue 22): `GET /ledger/entries` and `grantledger export`.

A mixed random workload through the API, then: Σ journal per credit and per entry equals what
the API shows for it; DuckDB loads the CSV, JSON Lines and Parquet exports as they are and
ties them out the same way; an incremental export continues exactly where the last stopped;
bad input is a 400 naming what to fix; another organization sees none of it.
"""

from __future__ import annotations

import json
import random
import re
import secrets
import time
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from tests.helpers import (
    credit_request,
    error_message,
    feature_entries,
    new_account,
    new_feature,
    new_schema,
    ok_json,
    usage_event,
)
from tests.servers import Server, run_cli

SETTLE_SECONDS = 30


def _parse(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json(parse_float=Decimal, parse_int=Decimal)
    return body


def read_journal(
    api: httpx.Client, after: str | None = None, **params: Any
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while True:
        query = {**params, **({"after": after} if after else {})}
        body = _parse(api.get("/ledger/entries", params=query))
        rows.extend(body["data"])
        after = body["cursor"]
        if not body["more"]:
            return rows


def _post(api: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response:
    """POST with Decimals written as exact JSON numbers (httpx's encoder refuses them)."""
    text = json.dumps(body, default=lambda d: f"__D{d}__")
    text = re.sub(r'"__D([0-9.E+-]+)__"', r"\1", text)
    return api.post(path, content=text, headers={"Content-Type": "application/json"})


def _grant(api: httpx.Client, account: str, amount: Decimal, **fields: Any) -> dict[str, Any]:
    body = {"creditRequests": [credit_request(account, amount, **fields)]}
    credit: dict[str, Any] = ok_json(_post(api, "/credits", body))["credits"][0]
    return credit


def _amount(rng: random.Random) -> str:
    # Money at 10 decimal places: every digit must survive the journal and the exports.
    return f"{rng.randint(1, 40)}.{rng.randint(0, 10**10 - 1):010d}"


class Workload:
    """Credits, holds, debits, voids, entry grants, events, corrections and feature holds, at
    random."""

    def __init__(self, api: httpx.Client, seed: int) -> None:
        self.api, self.rng = api, random.Random(seed)
        self.accounts = [new_account(api), new_account(api)]
        self.schema = new_schema(api)
        self.feature = new_feature(api, [(self.schema, "tokens")], valueType="NUMERIC")
        self.credits: list[str] = []
        self.entries: list[tuple[str, str]] = []
        self.holds: list[tuple[str, str]] = []
        self.events: list[dict[str, Any]] = []
        self.feature_holds: list[tuple[str, str]] = []
        self.kinds_made: set[str] = set()

    def step(self, n: int) -> None:
        api, rng = self.api, self.rng
        account = rng.choice(self.accounts)
        choice = rng.choice(
            [
                *("credit", "credit", "hold", "debit", "settle", "void", "entry", "event"),
                *("undo", "reserve", "reserve", "close"),
            ]
        )
        if choice == "credit" or not self.credits:
            body = _grant(api, account, Decimal(_amount(rng)), idempotencyKey=f"k-{n}")
            self.credits.append(body["id"])
        elif choice in ("hold", "debit"):
            path = "credit_holds" if choice == "hold" else "credit_debits"
            invoice = f"inv-{n}"
            line = {"entityId": "api", "amount": Decimal(_amount(rng))}
            r = _post(api, f"/accounts/{account}/{path}", {"invoiceId": invoice, "lines": [line]})
            assert r.status_code in (200, 409), r.text
            if choice == "hold" and r.status_code == 200:
                self.holds.append((account, invoice))
        elif choice == "settle" and self.holds:
            account, invoice = self.holds.pop(rng.randrange(len(self.holds)))
            verb = rng.choice(["capture", "release"])
            ok_json(api.post(f"/accounts/{account}/credit_holds/{invoice}/{verb}"))
        elif choice == "void":
            r = api.post(f"/credits/{rng.choice(self.credits)}/void")
            assert r.status_code in (200, 409), r.text
        elif choice == "entry" or not self.entries:
            path = f"/accounts/{account}/features/{self.feature}/entries"
            entry = ok_json(_post(api, path, {"granted": Decimal(_amount(rng))}))
            self.entries.append((account, entry["id"]))
        elif choice == "event":
            now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            event = usage_event(self.schema, account, now, f"ev-{n}", tokens=str(rng.randint(1, 9)))
            r = api.post("/ingest", json=event)
            assert r.status_code == 202, r.text
            self.events.append(event)
        elif choice == "undo" and self.events:
            event = self.events.pop(rng.randrange(len(self.events)))
            ok_json(api.post("/events/correction", params={"action": "UNDO"}, json=event))
        elif choice == "reserve":
            units = [{"featureId": self.feature, "units": rng.randint(1, 3)}]
            path = f"/accounts/{account}/feature_holds"
            r = _post(api, path, {"id": f"fh-{n}", "features": units})
            assert r.status_code in (201, 403), r.text  # 403: not covered, nothing held
            if r.status_code == 201:
                self.feature_holds.append((account, f"fh-{n}"))
                self.kinds_made.add("FEATURE_HOLD")
        elif choice == "close" and self.feature_holds:
            account, hold = self.feature_holds.pop(rng.randrange(len(self.feature_holds)))
            path = f"/accounts/{account}/feature_holds/{hold}"
            if rng.random() < 0.5:
                used = [{"featureId": self.feature, "units": rng.randint(0, 4)}]
                ok_json(_post(api, f"{path}/settle", {"features": used}))
                self.kinds_made |= {"FEATURE_HOLD_RELEASE", "FEATURE_HOLD_SETTLE"}
            else:
                ok_json(api.post(f"{path}/release"))
                self.kinds_made.add("FEATURE_HOLD_RELEASE")

    def expected(self) -> tuple[dict[str, tuple[Decimal, Decimal]], dict[str, Decimal]]:
        """Each credit's (balance, held) and each entry's balance, as the API shows them."""
        money = {}
        for credit_id in self.credits:
            c = _parse(self.api.get(f"/credits/{credit_id}"))
            gone = sum(
                (t["amount"] for t in c["transactions"] if t["transactionType"] != "CREDITED"),
                Decimal(0),
            )
            left = c["creditAmount"] - gone
            money[credit_id] = (left, c["holdAmount"])
        units = {}
        for account in self.accounts:
            for e in feature_entries(self.api, account, self.feature):
                units[e["id"]] = Decimal(str(e["balance"]))
        return money, units


def _sums(
    rows: list[dict[str, Any]],
) -> tuple[dict[str, tuple[Decimal, Decimal]], dict[str, Decimal]]:
    money: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    units: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        if row.get("creditId"):
            money[row["creditId"]][0] += row["amount"]
            money[row["creditId"]][1] += row["held"]
        else:
            units[row["entryId"]] += row["amount"]
    return {k: (v[0], v[1]) for k, v in money.items()}, dict(units)


def _settled(api: httpx.Client, world: Workload) -> list[dict[str, Any]]:
    """The whole journal once it ties out: on PostgreSQL a row is handed out only when every
    older transaction on the server has ended (the shared test server's included)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    expected = world.expected()
    while True:
        rows = read_journal(api)
        if _sums(rows) == expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


@pytest.fixture
def named(server: Server) -> tuple[str, httpx.Client]:
    org = "books-" + secrets.token_hex(5)
    return org, server.client(server.key(org))


def test_the_journal_ties_out_and_loads_in_duckdb(
    server: Server, named: tuple[str, httpx.Client], tmp_path: Path
) -> None:
    org, api = named
    world = Workload(api, seed=22)
    for n in range(45):
        world.step(n)
    rows = _settled(api, world)
    money, units = _sums(rows)
    expected_money, expected_units = world.expected()
    assert money == expected_money
    assert units == expected_units
    cursors = [r["cursor"] for r in rows]
    assert cursors == sorted(cursors) and len(set(cursors)) == len(cursors)
    kinds = {r["kind"] for r in rows}
    assert {"GRANT", "ENTRY_GRANT", "DRAW"} <= kinds, kinds
    assert {"FEATURE_HOLD", "FEATURE_HOLD_RELEASE"} <= world.kinds_made <= kinds, kinds
    key_prefix = server_key_prefix(api)
    assert all(r["actor"] == f"key:{key_prefix}" for r in rows if r["kind"] == "GRANT")
    assert all(r.get("requestId") for r in rows if r["kind"] == "GRANT")
    assert all(r["idempotencyKey"].startswith("k-") for r in rows if r["kind"] == "GRANT")

    # The exports, loaded as they are: every figure ties out again.
    for kind in ("csv", "jsonl", "parquet"):
        out = tmp_path / f"journal.{kind}"
        done = run_cli(
            server.database_url, "export", "--org", org, "--format", kind, "--out", str(out)
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"cursor {cursors[-1]}"
        reader = {"csv": "read_csv", "jsonl": "read_json", "parquet": "read_parquet"}[kind]
        loaded = duckdb.sql(
            f"SELECT credit_id, entry_id, amount::DECIMAL(28,10), held::DECIMAL(28,10), cursor "
            f"FROM {reader}('{out}') ORDER BY cursor"
        ).fetchall()
        assert [r[4] for r in loaded] == cursors, kind
        by_credit: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
        by_entry: dict[str, Decimal] = defaultdict(Decimal)
        for credit_id, entry_id, amount, held, _ in loaded:
            if credit_id:
                by_credit[credit_id][0] += amount
                by_credit[credit_id][1] += held
            else:
                by_entry[entry_id] += amount
        assert {k: (a, h) for k, (a, h) in by_credit.items()} == expected_money, kind
        assert dict(by_entry) == expected_units, kind

    # Incremental: the next export after the last cursor holds exactly what is new.
    _grant(api, world.accounts[0], Decimal("0.0000000001"))
    newer = read_journal(api, after=cursors[-1])
    deadline = time.monotonic() + SETTLE_SECONDS
    while not newer and time.monotonic() < deadline:
        time.sleep(0.1)
        newer = read_journal(api, after=cursors[-1])
    assert [r["kind"] for r in newer] == ["GRANT"] and newer[0]["amount"] == Decimal("1E-10")
    out = tmp_path / "more.csv"
    done = run_cli(
        server.database_url, "export", "--org", org, "--after", cursors[-1], "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    [(amount,)] = duckdb.sql(
        f"SELECT amount::VARCHAR FROM read_csv('{out}', all_varchar=true)"
    ).fetchall()
    assert amount == "0.0000000001"

    # Another organization sees none of it.
    assert read_journal(server.client()) == []


def server_key_prefix(api: httpx.Client) -> str:
    token = api.headers["Authorization"].removeprefix("Bearer ")
    return token[:8]


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"after": "nope"}, "after"),
        ({"after": "1-" + "9" * 25}, "after"),
        ({"kind": "GRANT,STEAL"}, "kind"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to"),
        ({"pageSize": "51"}, "pageSize"),
        ({"accountID": "a"}, "accountID"),
    ],
)
def test_bad_journal_queries_are_400s_naming_the_parameter(
    api: httpx.Client, params: dict[str, str], names: str
) -> None:
    assert names in error_message(api.get("/ledger/entries", params=params), 400)


def test_the_export_refuses_bad_options_without_a_traceback(
    server: Server, named: tuple[str, httpx.Client], tmp_path: Path
) -> None:
    org, _ = named
    out = str(tmp_path / "x.csv")
    for args, says in (
        (("--org", "no-such-org-" + secrets.token_hex(3), "--out", out), "no organization"),
        (("--org", org, "--after", "garbage", "--out", out), "after"),
        (("--org", org, "--from", "soon", "--out", out), "--from"),
    ):
        done = run_cli(server.database_url, "export", *args)
        assert done.returncode != 0 and says in done.stderr and "Traceback" not in done.stderr


GRANT_KINDS = "('GRANT','AUTO_TOP_UP','ENTRY_GRANT','PURCHASE','PLAN_GRANT')"
CONSUMING = (
    "('CAPTURE','DEBIT','DRAW','REVERSAL',"
    "'FEATURE_HOLD','FEATURE_HOLD_RELEASE','FEATURE_HOLD_SETTLE')"
)


def test_a_month_close_ties_out_to_the_export_to_the_last_digit(
    clock: Server, named: tuple[str, httpx.Client], tmp_path: Path
) -> None:
    org, api = named
    server = clock
    server.set_clock("2026-10-15T09:00:00Z")
    account = new_account(api)
    paid = _grant(
        api,
        account,
        Decimal("100.1234567891"),
        costBasis=Decimal("0.4999999999"),
        effectiveUntil="2026-11-10",
    )
    assert paid["costBasis"] == 0.4999999999
    free = _grant(api, account, Decimal("20"), costBasis=Decimal(0), priority=2)
    _grant(api, account, Decimal("30.0000000001"), priority=3)
    schema = new_schema(api)
    feature = new_feature(api, [(schema, "tokens")], valueType="NUMERIC")
    path = f"/accounts/{account}/features/{feature}/entries"
    ok_json(_post(api, path, {"granted": Decimal(50), "costBasis": Decimal("0.0200000001")}))

    server.set_clock("2026-11-05T10:00:00Z")
    line = {"entityId": "api", "amount": Decimal("40.5555555555")}
    ok_json(_post(api, f"/accounts/{account}/credit_debits", {"invoiceId": "nov", "lines": [line]}))
    event = usage_event(schema, account, "2026-11-05T10:00:00Z", "ev-nov", tokens="7")
    assert api.post("/ingest", json=event).status_code == 202
    server.set_clock("2026-11-20T00:00:00Z")
    ok_json(api.post(f"/credits/{free['id']}/void"))
    assert ok_json(api.get(f"/credits/{paid['id']}"))["status"] == "EXPIRED"

    server.set_clock("2026-12-02T00:00:00Z")
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        report = _parse(api.get("/reports/month_close", params={"month": "2026-11"}))
        if sum(u["rows"] for u in report["data"]) >= 8 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    figures = {u["unit"]: u for u in report["data"]}
    usd, tokens = figures["USD"], figures[feature]
    for u in (usd, tokens):
        moved = u["granted"] + u["adjusted"] - u["consumed"] - u["expired"] - u["voided"]
        assert u["opening"] + moved == u["closing"]
        valued = (
            u["sold"]
            + u["adjustedValue"]
            - u["recognisedRevenue"]
            - u["breakage"]
            - u["voidedValue"]
        )
        assert u["openingDeferredRevenue"] + valued == u["closingDeferredRevenue"]
    assert usd["opening"] == Decimal("150.1234567892") and usd["consumed"] == Decimal(
        "40.5555555555"
    )
    assert usd["expired"] == Decimal("59.5679012336") and usd["voided"] == 20
    # 40.5555555555 of the paid credit consumed at 0.4999999999, its rest broken at expiry.
    assert usd["recognisedRevenue"] == Decimal("40.5555555555") * Decimal("0.4999999999")
    assert usd["breakage"] == Decimal("59.5679012336") * Decimal("0.4999999999")
    assert usd["closingDeferredRevenue"] == 0
    assert tokens["consumed"] == 7 and tokens["closing"] == 43

    out = tmp_path / "journal.csv"
    done = run_cli(server.database_url, "export", "--org", org, "--out", str(out))
    assert done.returncode == 0, done.stderr
    start, end = "'2026-11-01T00:00:00Z'", "'2026-12-01T00:00:00Z'"
    value = "coalesce(amount * cost_basis, 0)"
    inside = f"occurred_at >= {start}"
    recomputed = duckdb.sql(
        f"""
        WITH j AS (
            SELECT unit, kind, occurred_at, amount::DECIMAL(38, 10) AS amount,
                   cost_basis::DECIMAL(38, 10) AS cost_basis
            FROM read_csv('{out}', all_varchar = true)
            WHERE occurred_at < {end}
        )
        SELECT unit,
            coalesce(sum(amount) FILTER (WHERE occurred_at < {start}), 0),
            coalesce(sum(amount) FILTER (WHERE {inside} AND kind IN {GRANT_KINDS}), 0),
            -coalesce(sum(amount) FILTER (WHERE {inside} AND kind IN {CONSUMING}), 0),
            -coalesce(sum(amount) FILTER (WHERE {inside} AND kind = 'EXPIRY'), 0),
            -coalesce(sum(amount) FILTER (WHERE {inside} AND kind = 'VOID'), 0),
            sum(amount),
            -coalesce(sum({value}) FILTER (WHERE {inside} AND kind IN {CONSUMING}), 0),
            -coalesce(sum({value}) FILTER (WHERE {inside} AND kind = 'EXPIRY'), 0),
            sum({value})
        FROM j GROUP BY unit
        """
    ).fetchall()
    names = (
        "opening",
        "granted",
        "consumed",
        "expired",
        "voided",
        "closing",
        "recognisedRevenue",
        "breakage",
        "closingDeferredRevenue",
    )
    for unit, *sums in recomputed:
        shown = figures[unit]
        assert [Decimal(s) for s in sums] == [shown[n] for n in names], unit

    done = run_cli(server.database_url, "report", "month-close", "--org", org, "--month", "2026-11")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["data"][0]["closing"] == str(usd["closing"])
    assert error_message(api.get("/reports/month_close", params={"month": "2026-13"}), 400)
    assert error_message(api.get("/reports/month_close"), 400)


def test_a_purchase_gives_its_entries_its_cost_basis(api: httpx.Client) -> None:
    feature = new_feature(api, name="Images")
    plan = ok_json(
        api.post(
            "/entitlement_plans",
            json={
                "name": "Pack " + secrets.token_hex(3),
                "type": "PURCHASE",
                "cycle": "MONTHLY",
                "features": [{"featureId": feature, "creditsPerCycle": 10}],
            },
        )
    )["id"]
    account = new_account(api)
    body = {"pricePlanId": plan, "quantity": 2, "costBasis": 0.25, "idempotencyKey": "pack-1"}
    ok_json(api.post(f"/accounts/{account}/purchases", json=body))
    changed = {**body, "costBasis": 0.5}
    assert "pack-1" in error_message(api.post(f"/accounts/{account}/purchases", json=changed), 409)
    deadline = time.monotonic() + SETTLE_SECONDS
    rows = read_journal(api, kind="PURCHASE")
    while not rows and time.monotonic() < deadline:
        time.sleep(0.1)
        rows = read_journal(api, kind="PURCHASE")
    assert [(r["amount"], r["costBasis"], r["featureId"]) for r in rows] == [
        (Decimal(20), Decimal("0.25"), feature)
    ]
