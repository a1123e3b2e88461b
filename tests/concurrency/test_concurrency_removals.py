"""Deletions racing the writes that would hang something on what they delete, across two worker
processes on one PostgreSQL: the deletion either comes first (the write then finds nothing to
hang on) or sees what committed before it (409). Never both: no credit, entry, alert, account
or association is left pointing at something deleted."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import httpx

from tests.concurrency.test_concurrency_credits import (
    assert_ledger_consistent,
    key,
    new_account,
    pg_server,
    race,
)
from tests.servers import Server, iter_pages

__all__ = ["key", "pg_server"]  # the fixtures, shared with the credits races
ROUNDS = 6


def _credit(account: str) -> Callable[[httpx.Client], int]:
    request = {
        "accountId": account,
        "purpose": "Prepaid Credit",
        "effectiveFrom": "2020-01-01",
        "priority": 1,
        "creditAmount": 1,
    }
    return lambda c: c.post("/credits", json={"creditRequests": [request]}).status_code


def _alert(account: str) -> Callable[[httpx.Client], int]:
    body = {
        "alertTemplateId": "credit_balance_below",
        "interval": 60,
        "status": "ACTIVE",
        "entityDetails": {"account": {"id": account}},
        "parameters": {"threshold": {"amount": "1"}},
    }
    return lambda c: c.post("/alerts", json=body).status_code


def test_deleting_an_account_races_what_would_hang_on_it(
    pg_server: Server, key: str, pg_url: str
) -> None:
    with pg_server.client(key) as api:
        feature = api.post("/features", json={"name": "F", "schemaAssociations": []}).json()["id"]
        for _ in range(ROUNDS):
            account = new_account(api)
            entry = f"/accounts/{account}/features/{feature}/entries"
            jobs: list[Callable[[httpx.Client], int]] = [
                lambda c, a=account: c.delete(f"/accounts/{a}").status_code,
                *[_credit(account)] * 4,
                lambda c, e=entry: c.post(e, json={"granted": 1}).status_code,
                _alert(account),
            ]
            deleted, *writes = race(pg_server, key, jobs)
            credits = list(iter_pages(api, "/credits", account_id=account))
            entries = api.get(entry)
            watching = [
                a
                for a in iter_pages(api, "/alerts")
                if a["entityDetails"].get("account", {}).get("id") == account
            ]
            if deleted == 200:
                assert api.get(f"/accounts/{account}").status_code == 404
                assert credits == [] and watching == [], (writes, credits, watching)
                assert entries.status_code in (200, 404) and entries.json().get("data", []) == []
                assert set(writes) <= {404, 400}, writes  # account not found (400: the alert's)
            else:
                assert deleted == 409, deleted
                assert 200 in writes and set(writes) <= {200, 404, 400}, writes
                assert len(credits) == writes[:4].count(200)
    assert_ledger_consistent(pg_url)


def test_deleting_a_customer_races_new_accounts_for_it(pg_server: Server, key: str) -> None:
    with pg_server.client(key) as api:
        for _ in range(ROUNDS):
            customer = "cus-" + secrets.token_hex(4)
            body = {
                "id": customer,
                "name": "Racing",
                "primaryEmail": "r@example.com",
                "address": {},
            }
            assert api.post("/customers", json=body).status_code == 201

            def create(c: httpx.Client, cust: str = customer) -> int:
                account = {
                    "id": "acc-" + secrets.token_hex(5),
                    "name": "New one",
                    "customerId": cust,
                }
                return c.post("/accounts", json=account).status_code

            deleted, *made = race(
                pg_server,
                key,
                [
                    lambda c, cust=customer: c.delete(f"/customers/{cust}").status_code,
                    *[create] * 4,
                ],
            )
            owned = [a for a in iter_pages(api, "/accounts") if a["customerId"] == customer]
            if deleted == 200:
                assert owned == [] and set(made) == {404}, made
            else:
                assert deleted == 409 and len(owned) == made.count(201) > 0, made


def _schemas_of(api: httpx.Client, feature_id: str) -> set[str]:
    found = api.get(f"/features/{feature_id}").json()["schemaAssociations"]
    return {a["schemaName"] for a in found}


def test_deleting_a_schema_races_features_consuming_it(pg_server: Server, key: str) -> None:
    with pg_server.client(key) as api:
        for _ in range(ROUNDS):
            schema = "race " + secrets.token_hex(3)
            body = {"name": schema, "attributes": [{"name": "n"}], "dimensions": []}
            assert api.post("/event_schema", json=body).status_code == 201
            link = {
                "name": "Uses it",
                "schemaAssociations": [{"schemaName": schema, "attributeName": "n"}],
            }
            deleted, *made = race(
                pg_server,
                key,
                [
                    lambda c, s=schema: c.delete(f"/event_schema/{s}").status_code,
                    *[lambda c, b=link: c.post("/features", json=b).status_code] * 3,
                ],
            )
            consumers = [
                f["id"] for f in iter_pages(api, "/features") if schema in _schemas_of(api, f["id"])
            ]
            if deleted == 200:
                assert consumers == [] and set(made) == {404}, made
                assert api.get(f"/event_schema/{schema}").status_code == 404
            else:
                assert deleted == 409 and len(consumers) == made.count(200) > 0, made
