"""A state machine over plan assignments, with the pure rules a plan change applies: where an
overlapped schedule closes (`closing_day`) and where it resumes after a bounded new one
(`resumes_on`). (How the running cycle's usage counts on the new plan is one figure per usage
window: tests/unit/test_domain_windows.py.)

After any sequence: at most one schedule is in force on any day; the newest assignment holds
every day of its window; and a day outside it keeps the plan it had."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from grantledger.domain.cycles import closing_day, resumes_on

DAY0 = date(2026, 1, 1)
HORIZON = 120  # days the machine looks at

amounts = st.decimals(min_value=0, max_value=10_000, places=2)


class PlanChanges(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        # [plan, from, until or None], oldest first, as the service keeps them
        self.schedules: list[list[object]] = []
        self.expected: dict[date, str] = {}

    def _plans_on(self, day: date) -> list[str]:
        held = []
        for plan, start, end in self.schedules:
            assert isinstance(start, date)
            if start <= day and (end is None or day < end):  # type: ignore[operator]
                held.append(str(plan))
        return held

    @rule(
        plan=st.sampled_from(["basic", "pro", "promo"]),
        offset=st.integers(0, HORIZON - 1),
        length=st.none() | st.integers(1, 60),
    )
    def assign(self, plan: str, offset: int, length: int | None) -> None:
        start = DAY0 + timedelta(days=offset)
        end = start + timedelta(days=length) if length is not None else None
        resumed: list[list[object]] = []
        for schedule in self.schedules:
            old_plan, old_from, old_until = schedule
            assert isinstance(old_from, date)
            until = old_until if isinstance(old_until, date) else None
            close = closing_day(old_from, until, start, end)
            if close is None:
                continue
            resume = resumes_on(old_from, until, start, end)
            schedule[2] = close
            if resume is not None:
                resumed.append([old_plan, resume, until])
        self.schedules.append([plan, start, end])
        self.schedules.extend(resumed)
        for n in range(HORIZON + 60):
            day = DAY0 + timedelta(days=n)
            if start <= day and (end is None or day < end):
                self.expected[day] = plan

    @invariant()
    def one_plan_a_day_and_the_newest_holds_its_window(self) -> None:
        for n in range(HORIZON + 60):
            day = DAY0 + timedelta(days=n)
            held = self._plans_on(day)
            assert len(held) <= 1, (day, held, self.schedules)
            assert held == ([self.expected[day]] if day in self.expected else []), (
                day,
                held,
                self.schedules,
            )

    @precondition(lambda self: bool(self.schedules))
    @rule()
    def windows_are_well_formed(self) -> None:
        for _plan, start, end in self.schedules:
            assert isinstance(start, date)
            assert end is None or (isinstance(end, date) and end >= start)


TestPlanChanges = PlanChanges.TestCase
TestPlanChanges.settings = settings(max_examples=60, stateful_step_count=12, deadline=None)
