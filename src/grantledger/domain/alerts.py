"""Alert templates and the pure rules of a crossing: when an incident opens and resolves.

A condition is judged on the state *after* a ledger change, against the incident the alert
currently holds open for that subject: below the line with none open opens one (the crossing);
back at or above the line with one open resolves it. Judging state rather than the change
itself is what makes the rule safe to run twice and safe under racing writers: the second
writer finds the incident the first one opened.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from grantledger.domain.credits import RESERVED_KEY_PREFIX
from grantledger.domain.errors import InvalidInput
from grantledger.domain.money import check_precision

CREDIT_BALANCE_BELOW = "credit_balance_below"
FEATURE_BALANCE_BELOW = "feature_balance_below"
CREDIT_EXPIRING = "credit_expiring"
MAX_WINDOW_DAYS = 366


@dataclass(frozen=True)
class Template:
    id: str
    name: str
    description: str
    entity_type: str
    entity_schema: str
    parameters_schema: str


TEMPLATES: dict[str, Template] = {
    t.id: t
    for t in (
        Template(
            CREDIT_BALANCE_BELOW,
            "Credit balance below",
            "Opens when an account's credit runningBalance goes below the threshold; resolves "
            "when it is back at or above it.",
            "account",
            '{"account": {"id": "string, optional: every account when omitted"}}',
            '{"threshold": {"amount": "decimal string"}}',
        ),
        Template(
            FEATURE_BALANCE_BELOW,
            "Feature balance below",
            "Opens when an account's feature balance goes below the threshold; resolves when it "
            "is back at or above it.",
            "feature",
            '{"account": {"id": "string, optional"}, "feature": {"id": "string"}}',
            '{"threshold": {"amount": "decimal string"}}',
        ),
        Template(
            CREDIT_EXPIRING,
            "Credit expiring",
            "Opens once per credit that still has a remainder and expires within the window.",
            "credit",
            '{"account": {"id": "string, optional: every account when omitted"}}',
            '{"window": {"days": "integer, 1 to 366"}}',
        ),
    )
}
# The templates are built in: one fixed creation instant for every organization.
TEMPLATES_CREATED_AT = datetime(2026, 1, 1, tzinfo=UTC)


class AlertStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"


class IncidentStatus(enum.StrEnum):
    OPEN = "OPEN"
    RESOLVED = "RESOLVED"
    CLOSED = "CLOSED"  # closed by the caller; the condition may still hold


class Verdict(enum.Enum):
    OPEN = "open"
    RESOLVE = "resolve"
    NONE = "none"


def judge_threshold(value: Decimal, threshold: Decimal, incident_open: bool) -> Verdict:
    """A balance alert: below the line opens, back at or above resolves, otherwise nothing."""
    below = value < threshold
    if below and not incident_open:
        return Verdict.OPEN
    if not below and incident_open:
        return Verdict.RESOLVE
    return Verdict.NONE


def expiring_within(
    effective_until: date | None, remaining: Decimal, today: date, window_days: int
) -> bool:
    """A credit with something left whose last day falls within the next `window_days` days."""
    if effective_until is None or remaining <= 0:
        return False
    return today <= effective_until < today + timedelta(days=window_days)


def judge_expiring(expiring: bool, incident_exists: bool) -> Verdict:
    """Once per credit: the first time it is seen expiring; never resolved by time passing."""
    return Verdict.OPEN if expiring and not incident_exists else Verdict.NONE


def topup_key(account_id: str, number: int) -> str:
    """The idempotency key of an account's `number`th top-up: in the namespace callers may not
    use (`credits.RESERVED_KEY_PREFIX`), numbered by a counter that never goes back."""
    return f"{RESERVED_KEY_PREFIX}{account_id}:{number}"


@dataclass(frozen=True)
class TopupPlan:
    below: bool
    grant: bool
    month: str
    month_count: int


def judge_topup(
    running_balance: Decimal,
    threshold: Decimal,
    was_below: bool,
    month: str,
    month_count: int,
    max_per_month: int,
    now: datetime,
) -> TopupPlan:
    """Top up on a crossing (was at or above, now below), at most `max_per_month` a month."""
    current = now.strftime("%Y-%m")
    count = month_count if month == current else 0
    below = running_balance < threshold
    grant = below and not was_below and count < max_per_month
    return TopupPlan(below, grant, current, count + 1 if grant else count)


@dataclass(frozen=True)
class Condition:
    """What an alert watches, parsed from its `entityDetails` and `parameters`."""

    account_id: str | None
    feature_id: str | None
    threshold: Decimal | None
    window_days: int | None


def _object(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{where} must be an object")
    return value


def _id_of(details: Mapping[str, Any], name: str, required: bool) -> str | None:
    if name not in details or details[name] is None:
        if required:
            raise InvalidInput(f'entityDetails.{name}.id is required: {{"{name}": {{"id": ...}}}}')
        return None
    given = _object(details[name], f"entityDetails.{name}").get("id")
    if not isinstance(given, str) or not 1 <= len(given) <= 50:
        raise InvalidInput(f"entityDetails.{name}.id must be a string of 1 to 50 characters")
    return given


def parse_threshold(parameters: Mapping[str, Any]) -> Decimal:
    threshold = _object(parameters.get("threshold"), "parameters.threshold")
    raw = threshold.get("amount")
    if isinstance(raw, bool) or not isinstance(raw, str | int | Decimal):
        raise InvalidInput('parameters.threshold.amount must be a decimal, e.g. {"amount": "100"}')
    try:
        amount = Decimal(str(raw))
    except InvalidOperation as bad:
        raise InvalidInput("parameters.threshold.amount must be a decimal number") from bad
    if not amount.is_finite() or amount < 0:
        raise InvalidInput("parameters.threshold.amount must be a finite number, 0 or more")
    check_precision(amount, "parameters.threshold.amount")
    return amount


def parse_window(parameters: Mapping[str, Any]) -> int:
    window = _object(parameters.get("window"), "parameters.window")
    days = window.get("days")
    # `7.0` is 7; the range is checked before int(), which takes seconds on `1E+999999`.
    if (
        isinstance(days, Decimal)
        and days.is_finite()
        and days == days.to_integral_value()
        and 1 <= days <= MAX_WINDOW_DAYS
    ):
        days = int(days)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_WINDOW_DAYS:
        raise InvalidInput(
            f"parameters.window.days must be a whole number from 1 to {MAX_WINDOW_DAYS}"
        )
    return days


def parse_condition(
    template_id: str,
    entity_details: Mapping[str, Any] | None,
    parameters: Mapping[str, Any] | None,
) -> Condition:
    if template_id not in TEMPLATES:
        raise InvalidInput(
            f"alertTemplateId {template_id} is not a template; use one of {', '.join(TEMPLATES)}"
        )
    details = entity_details or {}
    given = parameters or {}
    account = _id_of(details, "account", required=False)
    if template_id == CREDIT_EXPIRING:
        return Condition(account, None, None, parse_window(given))
    feature = _id_of(details, "feature", required=template_id == FEATURE_BALANCE_BELOW)
    return Condition(account, feature, parse_threshold(given), None)


def wire_entity_details(c: Condition) -> dict[str, dict[str, object]]:
    shown: dict[str, dict[str, object]] = {}
    if c.account_id is not None:
        shown["account"] = {"id": c.account_id}
    if c.feature_id is not None:
        shown["feature"] = {"id": c.feature_id}
    return shown


def wire_parameters(c: Condition) -> dict[str, dict[str, object]]:
    if c.window_days is not None:
        return {"window": {"days": c.window_days}}
    return {"threshold": {"amount": str(c.threshold)}}
