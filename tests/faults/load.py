"""A debit load that records every answer, and the checks that nothing was lost or doubled.

Each debit takes 1 unit under an invoice id of its own, so afterwards the ledger must hold
exactly one DEBITED transaction of 1 for every invoice whose debit was acknowledged, and at
most one for any other; retrying every unacknowledged invoice must then leave exactly one each.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from grantledger.store.database import Database
from grantledger.store.tables import credit_transactions

Seconds = float  # float-ok: a duration, never money


@dataclass(frozen=True)
class Answer:
    invoice: str
    status: int | None  # None: no HTTP answer at all (connection refused or dropped)
    seconds: Seconds
    message: str = ""
    retry_after: str | None = None
    started: Seconds = 0.0  # float-ok: monotonic instant the request was sent


def debit_body(invoice: str) -> dict[str, object]:
    return {"invoiceId": invoice, "lines": [{"entityId": "usage", "amount": 1}]}


class DebitLoad:
    """`threads` clients debiting one account back to back until `stop()`."""

    def __init__(
        self, base_url: str, key: str, account: str, threads: int = 4, timeout: Seconds = 20
    ) -> None:
        self.base_url, self.key, self.account = base_url, key, account
        self.timeout = timeout
        self.answers: list[Answer] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, args=(n,), daemon=True) for n in range(threads)
        ]

    def start(self) -> DebitLoad:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> list[Answer]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 5)
        return list(self.answers)

    def count(self, status: int | None) -> int:
        with self._lock:
            return sum(1 for a in self.answers if a.status == status)

    def _work(self, n: int) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        with httpx.Client(base_url=self.base_url, headers=headers, timeout=self.timeout) as c:
            seq = 0
            while not self._stop.is_set():
                seq += 1
                invoice = f"inv-{n}-{seq}"
                started = time.monotonic()
                try:
                    r = c.post(f"/accounts/{self.account}/credit_debits", json=debit_body(invoice))
                except httpx.TransportError:
                    answer = Answer(invoice, None, time.monotonic() - started, started=started)
                    time.sleep(0.05)  # the server is down: do not spin
                else:
                    elapsed = time.monotonic() - started
                    message = r.json().get("message", "") if r.status_code != 200 else ""
                    answer = Answer(
                        invoice,
                        r.status_code,
                        elapsed,
                        message,
                        r.headers.get("retry-after"),
                        started,
                    )
                with self._lock:
                    self.answers.append(answer)
                if answer.status == 503:
                    time.sleep(0.1)  # a polite client waits (less than Retry-After: a test)


def debited_by_invoice(database_url: str, credit_id: str) -> dict[str, tuple[int, Decimal]]:
    """invoice id → (DEBITED transactions, their total) on one credit, read from the database."""

    async def read(conn: AsyncConnection) -> dict[str, tuple[int, Decimal]]:
        t = credit_transactions.c
        rows = await conn.execute(
            sa.select(t.invoice_id, t.amount).where(
                t.credit_id == credit_id, t.transaction_type == "DEBITED"
            )
        )
        counts: Counter[str] = Counter()
        totals: dict[str, Decimal] = {}
        for invoice, amount in rows:
            counts[invoice] += 1
            totals[invoice] = totals.get(invoice, Decimal(0)) + Decimal(amount)
        return {invoice: (counts[invoice], totals[invoice]) for invoice in counts}

    async def main() -> dict[str, tuple[int, Decimal]]:
        db = Database(database_url)
        try:
            return await db.read_snapshot(read)
        finally:
            await db.dispose()

    return asyncio.run(main())


def settle_and_check(
    client: httpx.Client, database_url: str, account: str, credit_id: str, answers: list[Answer]
) -> None:
    """Nothing lost, nothing doubled; every unacknowledged debit then retried to completion."""
    acknowledged = {a.invoice for a in answers if a.status == 200}
    # A 503 that says nothing was written must have written nothing.
    nothing_written = {
        a.invoice for a in answers if a.status == 503 and "nothing was written" in a.message
    }
    before = debited_by_invoice(database_url, credit_id)
    for invoice in acknowledged:
        assert before.get(invoice) == (1, Decimal(1)), (invoice, before.get(invoice))
    for invoice in nothing_written:
        assert invoice not in before, f"{invoice}: answered 'nothing was written' but was"
    assert all(count == 1 for count, _ in before.values()), before
    assert set(before) <= {a.invoice for a in answers}

    # Retrying under the same invoice id is safe whatever the first answer was.
    for answer in answers:
        if answer.status == 200:
            continue
        r = client.post(f"/accounts/{account}/credit_debits", json=debit_body(answer.invoice))
        assert r.status_code == 200, (answer, r.status_code, r.text)
        assert r.json()["coveredAmount"] == 1
    after = debited_by_invoice(database_url, credit_id)
    assert after == {a.invoice: (1, Decimal(1)) for a in answers}
