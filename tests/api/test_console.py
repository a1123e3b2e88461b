"""The console over plain HTTP: its door (cookie, CSRF, Origin, tenants), its actions through
the service layer, and a page of an account with 10,000 ledger rows."""

from __future__ import annotations

import contextlib
import re
import secrets
import time
from collections.abc import Iterator

import httpx
import pytest

from grantledger.api.jsonio import dumps
from tests.api.console_client import Console, text_by_testid
from tests.api.guarded import serving
from tests.helpers import (
    balance,
    feature_credits,
    grant,
    grant_entry,
    new_account,
    new_feature,
    new_plan,
    new_schema,
    ok_json,
    usage_event,
)
from tests.servers import Server, run_cli

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def org(server: Server) -> Iterator[tuple[str, Console]]:
    key = server.key()
    console = Console(server, key)
    yield key, console
    console.close()


def test_sign_out_ends_the_session_on_the_server(server: Server) -> None:
    key = server.key()
    console, other = Console(server, key), Console(server, key)
    cookie = console.http.cookies.get("gl_console")
    assert cookie
    r = console.http.get("/console")  # signed in: straight to the accounts
    assert r.status_code == 303 and r.headers["location"] == "/console/accounts"
    assert console.http.post("/console/sign-out", data={"csrf": console.csrf}).status_code == 303
    with httpx.Client(base_url=server.base_url, cookies={"gl_console": cookie}) as thief:
        stale = thief.get("/console/accounts")
    assert stale.status_code == 303 and stale.headers["location"] == "/console"
    # Another session of the same key lives on.
    assert other.get("/console/accounts").status_code == 200
    console.close()
    other.close()


def test_sign_in_sets_a_strict_httponly_cookie_and_never_echoes_the_key(server: Server) -> None:
    key = server.key()
    with httpx.Client(base_url=server.base_url, headers={"Origin": server.base_url}) as c:
        page = c.get("/console")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        wrong = c.post("/console/sign-in", data={"csrf": token, "apiKey": key + "x"})
        assert wrong.status_code == 401 and "signin-error" in wrong.text
        assert key not in wrong.text
        r = c.post("/console/sign-in", data={"csrf": token, "apiKey": key})
        assert r.status_code == 303 and key not in r.headers["location"]
        header = r.headers["set-cookie"].lower()
        assert "httponly" in header and "samesite=strict" in header and "path=/console" in header
        assert key not in r.headers["set-cookie"]
        # Sign-in itself is guarded: no token, or another origin, starts no session.
        c.cookies.clear()
        no_token = c.post("/console/sign-in", data={"apiKey": key})
        assert no_token.status_code == 403
        evil = c.post(
            "/console/sign-in",
            data={"csrf": token, "apiKey": key},
            headers={"Origin": "http://evil.example"},
        )
        assert evil.status_code == 403


def test_actions_go_through_the_service_and_are_logged_with_the_key(
    server: Server, org: tuple[str, Console]
) -> None:
    key, console = org
    with server.client(key) as api:
        account = new_account(api)
        credit = grant(api, account, 100)
        hold = {"invoiceId": "inv-1", "lines": [{"entityId": "api", "amount": 40}]}
        ok_json(api.post(f"/accounts/{account}/credit_holds", json=hold))

        # A bad amount is refused with a reason, before any confirmation.
        bad = console.act(account, "grant-credit", amount="1e3", purpose="x")
        assert bad.status_code == 400 and "decimal number" in bad.text
        bad = console.act(account, "grant-credit", amount="0.1", purpose="x", effectiveUntil="2")
        assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text

        done = console.act(account, "capture-hold", invoiceId="inv-1")
        assert done.status_code == 303
        assert ok_json(api.get(f"/accounts/{account}/credit_holds/inv-1"))["status"] == "CAPTURED"
        # A conflict of the service (voiding a credit with money on hold is not the case any
        # more; releasing a captured hold is) shows its message and changes nothing.
        refused = console.act(account, "release-hold", invoiceId="inv-1")
        assert refused.status_code == 409 and "CAPTURED" in refused.text

        assert console.act(account, "void-credit", creditId=credit["id"]).status_code == 303
        voided = ok_json(api.get(f"/credits/{credit['id']}"))
        assert voided["status"] == "VOIDED"
        assert str(balance(api, account)["availableBalance"]) == "0"

        schema = new_schema(api)
        feature = new_feature(api, [(schema, "tokens")])
        plan = new_plan(api, [{"featureId": feature, "creditsPerCycle": 100}])
        today = ok_json(api.get(f"/accounts/{account}/credit_balance"))["lastUpdatedAt"][:10]
        assert console.act(account, "assign-plan", planId=plan).status_code == 303
        assert ok_json(api.get(f"/accounts/{account}/plans"))["data"][0]["planId"] == plan
        r = console.act(account, "grant-entry", featureId=feature, granted="25.5", source="REFUND")
        assert r.status_code == 303
        figures = feature_credits(api, account, feature)
        assert str(figures["granted"]) == "125.5"
        entry_id = re.search(r"id=([^&#]+)", r.headers["location"]).group(1)  # type: ignore[union-attr]
        assert (
            console.act(account, "void-entry", featureId=feature, entryId=entry_id).status_code
            == 303
        )
        assert str(feature_credits(api, account, feature)["granted"]) == "100"

        page = console.get(f"/console/accounts/{account}")
        log = page.text.split('data-testid="actions-table"')[1]
        for action in ("capture-hold", "void-credit", "assign-plan", "grant-entry", "void-entry"):
            assert action in log
        assert f"key {key[:8]}" in log
        assert today  # the plan began today


def test_another_organization_cannot_read_or_act(server: Server, org: tuple[str, Console]) -> None:
    key, _ = org
    with server.client(key) as api:
        account = new_account(api)
        grant(api, account, 70)
    intruder = Console(server, server.key())
    try:
        listed = intruder.get("/console/accounts", q=account).text
        assert 'data-testid="account-link"' not in listed and "No account matches" in listed
        assert intruder.get(f"/console/accounts/{account}").status_code == 404
        r = intruder.act(account, "grant-credit", amount="5", purpose="theft")
        assert r.status_code == 404
    finally:
        intruder.close()
    with server.client(key) as api:
        assert str(balance(api, account)["availableBalance"]) == "70"


def test_search_and_paging(server: Server, org: tuple[str, Console]) -> None:
    key, console = org
    with server.client(key) as api:
        ids = [new_account(api, account_id=f"pg-{i:02d}-x") for i in range(30)]
        new_account(api, account_id="other-1")
    page = console.get("/console/accounts", q="PG-")
    found = re.findall(r'data-testid="account-link">([^<]+)<', page.text)
    assert found == ids[:25]
    after = re.search(r'href="/console/accounts\?([^"]+)">Next', page.text).group(1)  # type: ignore[union-attr]
    rest = console.http.get("/console/accounts?" + after.replace("&amp;", "&"))
    assert re.findall(r'data-testid="account-link">([^<]+)<', rest.text) == ids[25:]
    assert console.get("/console/accounts", q="%").text.count('data-testid="account-link"') == 0


def test_account_page_with_10000_ledger_rows_is_paged_and_fast(
    server: Server, org: tuple[str, Console]
) -> None:
    key, console = org
    with server.client(key) as api:
        account = new_account(api)
        for _ in range(5):
            grant(api, account, 1_000_000)
        # 100 debits of 100 lines each: 10,000 DEBITED transactions.
        for n in range(100):
            body = {
                "invoiceId": f"inv-{n}",
                "lines": [{"entityId": f"e{i}", "amount": 3} for i in range(100)],
            }
            r = api.post(f"/accounts/{account}/credit_debits", content=dumps(body), headers=JSON)
            assert r.status_code == 200, r.text
        expected = balance(api, account)
        started = time.perf_counter()
        page = console.get(f"/console/accounts/{account}")
        elapsed = time.perf_counter() - started
    print(f"account page with 10,000 ledger rows: {elapsed:.3f} s")  # float-ok: seconds
    assert page.status_code == 200
    assert text_by_testid(page.text, "available-balance") == str(expected["availableBalance"])
    ledger = page.text.split('data-testid="ledger-table"')[1].split("</table>")[0]
    assert ledger.count("<tr>") == 26  # a header and one page of 25
    assert page.text.count('class="mark debit"') <= 12
    assert elapsed < 3, f"the account page took {elapsed:.2f} s"  # float-ok: seconds


def test_event_log_shows_refusals_and_draws(server: Server, org: tuple[str, Console]) -> None:
    key, console = org
    with server.client(key) as api:
        account = new_account(api)
        schema = new_schema(api)
        feature = new_feature(api, [(schema, "tokens")])
        entry = ok_json(
            api.post(f"/accounts/{account}/features/{feature}/entries", json={"granted": 10})
        )
        now = entry["effectiveFrom"]
        ok = usage_event(schema, account, now, "ev-ok", tokens="4")
        assert api.post("/entitled", json=ok).status_code == 200
        no = usage_event(schema, account, now, "ev-no", tokens="400")
        assert api.post("/entitled", json=no).status_code == 403
    page = console.get(f"/console/accounts/{account}").text
    events = page.split('data-testid="events-table"')[1].split("</table>")[0]
    assert "ev-ok" in events and entry["id"] in events
    assert "refused</strong>: feature" in events and "needed 400, available 6" in events
    feature_page = console.get(f"/console/accounts/{account}/features/{feature}", entry=entry["id"])
    assert feature_page.status_code == 200
    draws = feature_page.text.split('data-testid="draws-table"')[1].split("</table>")[0]
    assert "ev-ok" in draws and "ev-no" not in draws
    assert "GRANT" in feature_page.text.split('data-testid="entries-table"')[1]
    assert console.get("/console/catalog").text.count(feature) >= 1


def test_pages_escape_what_they_show_and_refuse_the_unknown(
    server: Server, org: tuple[str, Console]
) -> None:
    key, console = org
    with server.client(key) as api:
        account = new_account(api)
        credit = grant(api, account, 5)
        r = api.patch(f"/accounts/{account}", json={"name": "<script>alert(1)</script>"})
        assert r.status_code == 200, r.text
        other = new_account(api)
    page = console.get(f"/console/accounts/{account}").text
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # A credit page shows the credit as the API does; under another account it is not found.
    detail = console.get(f"/console/accounts/{account}/credits/{credit['id']}")
    assert detail.status_code == 200 and "CREDITED" in detail.text
    assert console.get(f"/console/accounts/{other}/credits/{credit['id']}").status_code == 404
    assert console.act(account, "no-such-action").status_code == 404
    assert console.get("/console/accounts/" + "x" * 51).status_code == 404
    # Without a session: pages send to the sign-in form, posts are refused.
    with httpx.Client(base_url=server.base_url, headers={"Origin": server.base_url}) as anon:
        r = anon.get(f"/console/accounts/{account}")
        assert r.status_code == 303 and r.headers["location"] == "/console"
        url = f"/console/accounts/{account}/actions/grant-credit"
        r = anon.post(url, data={"amount": "5", "purpose": "x", "confirm": "yes"})
        assert r.status_code == 403
        r = anon.post(url, content=b"{}", headers={"Content-Type": "application/json"})
        assert r.status_code == 403


def test_as_of_a_bare_date_is_midnight_utc_as_in_the_api(clock: Server) -> None:
    """The account page's "Balance as of" reads a bare date as the API's `asOf` does:
    00:00Z that day (not its end), so both show the same figures."""
    key = clock.key()
    clock.set_clock("2027-03-05T10:00:00Z")
    with clock.client(key) as api:
        account = new_account(api)
        grant(api, account, 100, effectiveFrom="2027-03-01")
    clock.set_clock("2027-03-07T10:00:00Z")
    console = Console(clock, key)  # signed in at the frozen instant: the session is fresh
    with clock.client(key) as api, contextlib.closing(console):
        for day, expected in (("2027-03-05", "0"), ("2027-03-06", "100")):
            page = console.get(f"/console/accounts/{account}", asOf=day)
            assert page.status_code == 200, page.text
            assert text_by_testid(page.text, "as-of-available") == expected
            assert str(balance(api, account, asOf=day)["availableBalance"]) == expected
            assert f"{day}T00:00:00Z" in page.text  # the instant the figures are for
        # Today's date is today's midnight, in the past: allowed; tomorrow's is refused.
        today = console.get(f"/console/accounts/{account}", asOf="2027-03-07")
        assert text_by_testid(today.text, "as-of-available") == "100"
        assert console.get(f"/console/accounts/{account}", asOf="2027-03-08").status_code == 400


@pytest.fixture(scope="module")
def braked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """10 failed authentications per address, refilled once in 10 s (SQLite, own database)."""
    state = tmp_path_factory.mktemp("braked")
    env = {"GRANTLEDGER_AUTH_FAILURE_LIMIT": "0.1:10"}
    with serving(f"sqlite:///{state}/braked.db", state, **env) as srv:
        yield srv


def _sign_in_form(srv: Server, address: str) -> tuple[httpx.Client, str]:
    # Another loopback address: the brake on it leaves the other tests' 127.0.0.1 alone.
    transport = httpx.HTTPTransport(local_address=address)
    client = httpx.Client(
        base_url=srv.base_url, headers={"Origin": srv.base_url}, transport=transport
    )
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/console").text)
    assert token
    return client, token.group(1)


def test_failed_sign_ins_are_braked_without_locking_out_the_right_key(braked: Server) -> None:
    key, used = braked.key(), braked.key()
    with braked.client(used) as api:
        assert api.get("/customers").status_code == 200  # `used` was accepted just now

    def sign_in(api_key: str) -> httpx.Response:
        # A fresh browser each time (a signed-in one has no sign-in form), same address.
        c, token = _sign_in_form(braked, "127.0.0.7")
        try:
            return c.post("/console/sign-in", data={"csrf": token, "apiKey": api_key})
        finally:
            c.close()

    for _ in range(10):
        assert sign_in("gl_guess" + secrets.token_hex(8)).status_code == 401
    r = sign_in("gl_guess")
    assert r.status_code == 429 and "too many failed sign-ins" in r.text
    # The right key, never used before, still signs in from the braked address.
    time.sleep(1.1)
    r = sign_in(key)
    assert r.status_code == 303, r.text
    assert "gl_console=" in r.headers.get("set-cookie", "")
    # While guesses flood in (each refused 429, at most one a second even looked up)...
    for _ in range(30):
        assert sign_in("gl_guess" + secrets.token_hex(8)).status_code == 429
    # ...a key in use lately gets in at once.
    assert sign_in(used).status_code == 303


def test_the_console_and_the_api_share_one_budget_of_failures(braked: Server) -> None:
    wrong = {"Authorization": "Bearer gl_wrong"}
    transport = httpx.HTTPTransport(local_address="127.0.0.8")
    with httpx.Client(base_url=braked.base_url, transport=transport) as api:
        codes = [api.get("/customers", headers=wrong).status_code for _ in range(11)]
    assert codes == [401] * 10 + [429]
    c, token = _sign_in_form(braked, "127.0.0.8")
    try:
        r = c.post("/console/sign-in", data={"csrf": token, "apiKey": "gl_wrong"})
        assert r.status_code == 429
    finally:
        c.close()


def test_a_named_key_signs_its_grants_and_revoking_it_ends_its_sessions(server: Server) -> None:
    org = "org-" + secrets.token_hex(5)
    made = run_cli(server.database_url, "keys", "create", "--org", org, "--name", "Support desk")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    console = Console(server, key)
    try:
        with server.client(key) as api:
            account = new_account(api)
            assert (
                console.act(account, "grant-credit", amount="7", purpose="goodwill").status_code
                == 303
            )
            [credit] = api.get("/credits", params={"account_id": account}).json()["data"]
        assert credit["grantorId"] == f"key Support desk ({key[:8]}…)"
        assert console.get("/console/accounts").status_code == 200
        revoked = run_cli(server.database_url, "keys", "revoke", "--org", org, "--prefix", key[:8])
        assert revoked.returncode == 0, revoked.stderr
        r = console.get("/console/accounts")
        assert r.status_code == 303 and r.headers["location"] == "/console"
    finally:
        console.close()


def test_open_feature_holds_are_listed_and_released_after_confirmation(
    server: Server, org: tuple[str, Console]
) -> None:
    key, console = org
    with server.client(key) as api:
        account = new_account(api)
        feature = new_feature(api, [])
        grant_entry(api, account, feature, 100)
        body = {"id": "llm-call-7", "features": [{"featureId": feature, "units": 40}]}
        held = ok_json(api.post(f"/accounts/{account}/feature_holds", json=body), 201)
        page = console.get(f"/console/accounts/{account}")
        table = page.text.split('data-testid="feature-holds-table"', 1)[1].split("</table>", 1)[0]
        assert "llm-call-7" in table and f"{feature} 40" in table
        # The reservation is not usage: the event log does not list it (nothing to undo there).
        log = page.text.split('data-testid="events-table"', 1)[1].split("</table>", 1)[0]
        assert "llm-call-7" not in log
        assert held["expiresAt"].replace("T", " ")[:16] in table.replace("T", " ")
        # The first post only asks for confirmation: nothing is released before it.
        asked = console.http.post(
            f"/console/accounts/{account}/actions/release-feature-hold",
            data={"csrf": console.csrf, "holdId": "llm-call-7"},
        )
        assert asked.status_code == 200 and 'data-testid="confirm-page"' in asked.text
        assert feature_credits(api, account, feature)["balance"] == 60
        assert console.act(account, "release-feature-hold", holdId="llm-call-7").status_code == 303
        assert ok_json(api.get(f"/accounts/{account}/feature_holds/llm-call-7"))["status"] == (
            "RELEASED"
        )
        assert feature_credits(api, account, feature)["balance"] == 100
        again = console.act(account, "release-feature-hold", holdId="nope")
        assert again.status_code == 404
        page = console.get(f"/console/accounts/{account}")
        assert "No open feature hold." in page.text
