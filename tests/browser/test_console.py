"""The console in a real headless Chromium, against a real server on SQLite and PostgreSQL.

One support engineer's round trip: sign in, find an account, read its balance, grant a credit
through the form (balance and chart move), release a hold, sign out (the session is dead on the
server). A second organization's key sees none of it; a forged or foreign POST changes nothing.
"""

from __future__ import annotations

import os
import secrets
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from grantledger.api.jsonio import dumps
from tests.helpers import (
    assign_plan,
    balance,
    grant,
    new_account,
    new_feature,
    new_plan,
    new_schema,
    ok_json,
    usage_event,
)
from tests.servers import Server

JSON = {"Content-Type": "application/json"}


def _by() -> Any:
    from selenium.webdriver.common.by import By

    return By


LINKS = '[data-testid="account-link"]'
HOLD_ROW = '[data-testid="holds-table"] tr[data-invoice="inv-hold"]'


def hold_status(api: httpx.Client, account: str) -> str:
    status: str = ok_json(api.get(f"/accounts/{account}/credit_holds/inv-hold"))["status"]
    return status


def purposes(api: httpx.Client, account: str) -> list[str]:
    return [
        c["purpose"] for c in api.get("/credits", params={"account_id": account}).json()["data"]
    ]


def wait_for(driver: Any, how: str, what: str) -> Any:
    """The element once the page that has it is loaded: a click that submits a form returns
    before the next page arrives."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, 15).until(
        expected_conditions.presence_of_element_located((how, what))
    )


def wait_until(driver: Any, condition: Any) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 15).until(condition)


def by_testid(driver: Any, name: str) -> Any:
    return wait_for(driver, _by().CSS_SELECTOR, f'[data-testid="{name}"]')


def text_of(driver: Any, name: str) -> str:
    return str(by_testid(driver, name).text).strip()


def sign_in(driver: Any, server: Server, key: str, *, expect: str = "accounts-table") -> None:
    """Post the sign-in form and wait for the page it leads to (`expect` is on it)."""
    driver.get(server.base_url + "/console")
    box = driver.find_element(_by().NAME, "apiKey")
    box.clear()
    box.send_keys(key)
    box.submit()
    by_testid(driver, expect)


def chart_marks(driver: Any, kind: str) -> list[dict[str, str]]:
    found = driver.find_elements(_by().CSS_SELECTOR, f'[data-testid="balance-chart"] g.mark.{kind}')
    return [
        {"at": m.get_attribute("data-at"), "available": m.get_attribute("data-available")}
        for m in found
    ]


def confirm(driver: Any) -> None:
    by_testid(driver, "confirm-page")
    by_testid(driver, "confirm").click()


def _setup(api: httpx.Client) -> str:
    account = new_account(api, account_id="acme-" + secrets.token_hex(3))
    for _ in range(3):  # neighbours, so that the search has something to leave out
        new_account(api)
    grant(api, account, 500, effectiveUntil="2030-12-31")
    body = {"invoiceId": "inv-debit", "lines": [{"entityId": "api", "amount": 12.34}]}
    ok_json(api.post(f"/accounts/{account}/credit_debits", json=body))
    body = {"invoiceId": "inv-hold", "lines": [{"entityId": "api", "amount": 0.3}]}
    ok_json(api.post(f"/accounts/{account}/credit_holds", json=body))
    return account


def _history(server: Server, api: httpx.Client) -> str:
    """Four months of an account's life, written with the server's clock moved through them:
    grants, a promotion that expires unused, debits, a plan with accepted and refused usage,
    and an open hold."""
    account = new_account(api, account_id="acme-" + secrets.token_hex(3))
    for _ in range(3):
        new_account(api)
    schema = new_schema(api)
    feature = new_feature(api, [(schema, "tokens")], id="ai-tokens")
    plan = new_plan(api, [{"featureId": feature, "creditsPerCycle": 1000, "overagePerCycle": 200}])

    def at(instant: str) -> None:
        server.set_clock(instant)

    def debit(invoice: str, amount: str) -> None:
        body = {"invoiceId": invoice, "lines": [{"entityId": "api", "amount": Decimal(amount)}]}
        ok_json(api.post(f"/accounts/{account}/credit_debits", content=dumps(body), headers=JSON))

    def use(event_id: str, tokens: str, when: str, status: int = 200) -> None:
        event = usage_event(schema, account, when, event_id, tokens=tokens)
        assert api.post("/entitled", json=event).status_code == status

    try:
        at("2026-08-01T09:00:00Z")
        grant(api, account, 500, effectiveFrom="2026-08-01", effectiveUntil="2030-12-31")
        at("2026-08-20T14:00:00Z")
        debit("inv-aug", "120")
        at("2026-09-05T10:00:00Z")
        grant(
            api,
            account,
            200,
            purpose="September promotion",
            effectiveFrom="2026-09-05",
            effectiveUntil="2026-09-30",
        )
        at("2026-09-15T16:30:00Z")
        debit("inv-sep", "60")
        at("2026-10-01T08:00:00Z")
        assign_plan(api, account, plan, "2026-10-01")
        at("2026-10-02T11:00:00Z")
        debit("inv-oct-1", "10")
        use("req-1", "400", "2026-10-02T11:00:00Z")
        at("2026-10-20T12:00:00Z")
        debit("inv-debit", "12.34")
        at("2026-11-05T09:00:00Z")
        use("req-2", "900", "2026-11-05T09:00:00Z")
        use("req-3", "5000", "2026-11-05T09:00:00Z", status=403)
        body = {"invoiceId": "inv-hold", "lines": [{"entityId": "api", "amount": Decimal("0.3")}]}
        ok_json(api.post(f"/accounts/{account}/credit_holds", content=dumps(body), headers=JSON))
    finally:
        server.set_clock(None)
    return account


def test_console_round_trip(server: Server, browser: Any, tmp_path: Path) -> None:
    driver = browser
    key = server.key()
    other_key = server.key()
    with server.client(key) as api:
        account = _history(server, api)

        # A wrong key: the form says so, and no session starts.
        sign_in(driver, server, "gl_not-a-key", expect="signin-error")
        assert "not valid" in text_of(driver, "signin-error")
        assert driver.get_cookie("gl_console") is None

        sign_in(driver, server, key)
        by_testid(driver, "accounts-table")
        assert driver.current_url.endswith("/console/accounts")
        search = by_testid(driver, "account-search")
        search.send_keys(account[:9])
        search.submit()
        wait_until(driver, lambda d: "q=" in d.current_url)
        links = [a.text for a in driver.find_elements(_by().CSS_SELECTOR, LINKS)]
        assert links == [account]
        driver.find_element(_by().LINK_TEXT, account).click()

        # The figures are the API's, digit for digit.
        before = balance(api, account)
        assert text_of(driver, "available-balance") == "357.66" == str(before["availableBalance"])
        assert text_of(driver, "running-balance") == "357.36" == str(before["runningBalance"])
        assert text_of(driver, "hold-amount") == "0.3"
        assert [m["available"] for m in chart_marks(driver, "grant")] == ["500", "580"]
        # The promotion's 140 expire when its window ends (2026-10-01), before the next debit.
        assert [m["available"] for m in chart_marks(driver, "expiry")] == ["380"]
        assert len(chart_marks(driver, "debit")) == 4
        # Every marked point of the chart is what `asOf` answers for its instant.
        for kind in ("grant", "expiry", "debit"):
            for mark in chart_marks(driver, kind):
                then = balance(api, account, asOf=mark["at"])
                assert str(then["availableBalance"]) == mark["available"], mark
        assert "inv-hold" in text_of(driver, "holds-table")
        months = {
            row.get_attribute("data-month"): row.text.split()[1:]
            for row in driver.find_elements(_by().CSS_SELECTOR, "tr[data-month]")
        }
        assert months == {
            "2026-08": ["500", "120", "0", "0"],
            "2026-09": ["200", "60", "0", "0"],
            "2026-10": ["0", "22.34", "140", "0"],
        }
        # The balance as a past day began (00:00Z, as the API reads a bare date), from the
        # same form a finance analyst uses: before that day's 16:30 debit of 60.
        asof = by_testid(driver, "as-of-form").find_element(_by().NAME, "asOf")
        asof.send_keys("2026-09-15")
        asof.submit()
        assert text_of(driver, "as-of-available") == "580"
        for same in ("2026-09-15", "2026-09-15T00:00:00Z"):
            assert str(balance(api, account, asOf=same)["availableBalance"]) == "580"
        events = text_of(driver, "events-table")
        assert "refused: feature ai-tokens is not covered: needed 5000" in events
        assert "req-2" in events and "ai-tokens" in text_of(driver, "features-table")

        # Grant through the form, confirm, and see the new balance and the new chart point.
        form = by_testid(driver, "grant-credit-form")
        form.find_element(_by().NAME, "amount").send_keys("250.50")
        purpose = form.find_element(_by().NAME, "purpose")
        purpose.clear()
        purpose.send_keys("Goodwill after outage")
        form.find_element(_by().NAME, "effectiveUntil").send_keys("2031-06-30")
        form.submit()
        confirm(driver)
        assert "Credit granted" in text_of(driver, "notice")
        after = balance(api, account)
        assert str(after["availableBalance"]) == "608.16"
        assert text_of(driver, "available-balance") == "608.16"
        grants = chart_marks(driver, "grant")
        assert len(grants) == 3 and grants[-1]["available"] == "608.16"
        credits_text = text_of(driver, "credits-table")
        assert "Goodwill after outage" in credits_text and "250.5" in credits_text
        granted = [
            c
            for c in api.get("/credits", params={"account_id": account}).json()["data"]
            if c["purpose"] == "Goodwill after outage"
        ]
        assert len(granted) == 1 and granted[0]["grantorId"].startswith("key gl_")
        assert granted[0]["effectiveUntil"] == "2031-06-30"

        # Release the hold.
        row = driver.find_element(
            _by().CSS_SELECTOR, '[data-testid="holds-table"] tr[data-invoice="inv-hold"]'
        )
        row.find_element(_by().CSS_SELECTOR, '[data-testid="release-hold"]').click()
        confirm(driver)
        assert text_of(driver, "hold-amount") == "0"
        assert (
            ok_json(api.get(f"/accounts/{account}/credit_holds/inv-hold"))["status"] == "RELEASED"
        )
        assert "release-hold" in text_of(driver, "actions-table")

        _screenshot(driver, tmp_path)

        # Sign out ends the session on the server: the old cookie opens nothing any more.
        cookie = driver.get_cookie("gl_console")["value"]
        by_testid(driver, "sign-out").click()
        assert wait_for(driver, _by().NAME, "apiKey")
        stale = httpx.get(f"{server.base_url}/console/accounts", cookies={"gl_console": cookie})
        assert stale.status_code == 303 and stale.headers["location"] == "/console"

        # Another organization's key sees none of it.
        sign_in(driver, server, other_key)
        assert account not in text_of(driver, "accounts-table")
        driver.get(f"{server.base_url}/console/accounts/{account}")
        assert "not found" in text_of(driver, "error")
        assert "608.16" not in driver.page_source
        by_testid(driver, "sign-out").click()


def test_forged_posts_change_nothing(server: Server, browser: Any) -> None:
    """No CSRF token, a wrong one, or another origin: 403 and the ledger untouched."""
    driver = browser
    key = server.key()
    with server.client(key) as api:
        account = _setup(api)
        sign_in(driver, server, key)
        cookie = driver.get_cookie("gl_console")["value"]
        driver.get(f"{server.base_url}/console/accounts/{account}")
        token = driver.find_element(_by().NAME, "csrf").get_attribute("value")
        url = f"{server.base_url}/console/accounts/{account}/actions/grant-credit"
        fields = {"amount": "1000", "purpose": "forged", "confirm": "yes"}
        with httpx.Client(cookies={"gl_console": cookie}) as c:
            own = {"Origin": server.base_url}
            assert c.post(url, data=fields, headers=own).status_code == 403
            assert c.post(url, data={**fields, "csrf": "x" * 43}, headers=own).status_code == 403
            evil = {"Origin": "http://evil.example"}
            assert c.post(url, data={**fields, "csrf": token}, headers=evil).status_code == 403
            assert c.post(url, data={**fields, "csrf": token}).status_code == 403  # no Origin
            release = url.replace("grant-credit", "release-hold")
            answer = c.post(release, data={"invoiceId": "inv-hold", "confirm": "yes"}, headers=own)
            assert answer.status_code == 403
        # The same forgery from a page of another origin, in the browser itself.
        driver.get(
            "data:text/html,<form method=post action='" + url + "'>"
            "<input name=amount value=1000><input name=purpose value=forged>"
            "<input name=confirm value=yes><input name=csrf value='" + token + "'>"
            "<button id=go>go</button></form>"
        )
        driver.find_element(_by().ID, "go").click()
        assert "refused" in text_of(driver, "error")
        assert str(balance(api, account)["availableBalance"]) == "487.66"
        assert hold_status(api, account) == "HELD"
        assert [
            c["purpose"] for c in api.get("/credits", params={"account_id": account}).json()["data"]
        ] == ["Prepaid Credit"]


def test_an_operator_undoes_an_event(server: Server, browser: Any) -> None:
    """A producer sent a job twice: the second event is undone from its row of the event
    log, through the confirmation page, and its units are back."""
    driver = browser
    key = server.key()
    with server.client(key) as api:
        account = new_account(api)
        schema = new_schema(api)
        feature = new_feature(api, [(schema, "tokens")])
        entry = ok_json(
            api.post(f"/accounts/{account}/features/{feature}/entries", json={"granted": 100})
        )
        for job in ("job-1", "job-1-retried"):
            event = usage_event(schema, account, entry["effectiveFrom"], job, tokens="30")
            ok_json(api.post("/ingest", json=event), 202)
        sign_in(driver, server, key)
        driver.get(f"{server.base_url}/console/accounts/{account}")
        row = wait_for(driver, _by().CSS_SELECTOR, 'tr[data-event="job-1-retried"]')
        row.find_element(_by().CSS_SELECTOR, '[data-testid="undo-event"]').click()
        assert "give back to" in text_of(driver, "confirm-page")
        confirm(driver)
        assert "Event undone" in text_of(driver, "notice")
        row = driver.find_element(_by().CSS_SELECTOR, 'tr[data-event="job-1-retried"]')
        assert row.get_attribute("data-status") == "REVERTED"
        assert (
            "UNDO by key"
            in row.find_element(_by().CSS_SELECTOR, '[data-testid="reverted-by"]').text
        )
        kept = driver.find_element(_by().CSS_SELECTOR, 'tr[data-event="job-1"]')
        assert kept.get_attribute("data-status") == "INGESTION_COMPLETED_EVENT_METERED"
        credits = ok_json(api.get(f"/accounts/{account}/features/{feature}"))
        assert str(credits["balance"]) == "70"


def _screenshot(driver: Any, tmp_path: Path) -> None:
    """docs/console.png when asked (`make screenshot`), else an artifact in the test's folder."""
    target = Path(os.environ.get("GRANTLEDGER_SCREENSHOT") or tmp_path / "console.png")
    target.parent.mkdir(parents=True, exist_ok=True)
    driver.get(driver.current_url.split("?")[0])
    driver.save_screenshot(str(target))
    assert target.stat().st_size > 10_000
    print(f"console screenshot: {target}")
