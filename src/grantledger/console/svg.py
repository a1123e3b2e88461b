"""Chart points to SVG geometry. Coordinates are computed in Decimal (no float anywhere)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from grantledger.console.chart import Point
from grantledger.domain.money import canonical

WIDTH = 960
HEIGHT = 240
LEFT, RIGHT, TOP, BOTTOM = 70, 16, 14, 34
_PIXEL = Decimal("0.1")


@dataclass(frozen=True)
class Marker:
    x: str
    y: str
    kind: str
    at: str
    instant: str  # the exact instant, as the API writes instants (`asOf` takes it as is)
    amount: str
    available: str
    running: str
    credit_id: str


@dataclass(frozen=True)
class Tick:
    pos: str
    label: str


@dataclass(frozen=True)
class ChartSvg:
    width: int
    height: int
    available_path: str
    running_path: str
    markers: list[Marker]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    last: Point | None


def _px(value: Decimal) -> str:
    return str(value.quantize(_PIXEL, rounding=ROUND_HALF_EVEN))


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S")


def _micros(delta: timedelta) -> int:
    return delta // timedelta(microseconds=1)


def render(points: Sequence[Point]) -> ChartSvg:
    if not points:
        return ChartSvg(WIDTH, HEIGHT, "", "", [], [], [], None)
    t0, t1 = points[0].at, points[-1].at
    span = max(_micros(t1 - t0), 1)
    top = max((p.figures.available_balance for p in points), default=Decimal(0))
    top = max(top, max(p.figures.running_balance for p in points), Decimal(1))
    plot_w = Decimal(WIDTH - LEFT - RIGHT)
    plot_h = Decimal(HEIGHT - TOP - BOTTOM)

    def x(at: datetime) -> Decimal:
        return LEFT + plot_w * _micros(at - t0) / span

    def y(value: Decimal) -> Decimal:
        return TOP + plot_h - plot_h * max(value, Decimal(0)) / top

    def step_path(values: Sequence[Decimal]) -> str:
        # A balance holds its value until the next fact moves it: horizontal, then vertical.
        parts = [f"M{_px(x(points[0].at))},{_px(y(values[0]))}"]
        for point, value in zip(points[1:], values[1:], strict=True):
            parts.append(f"H{_px(x(point.at))}V{_px(y(value))}")
        return "".join(parts)

    markers = [
        Marker(
            x=_px(x(p.at)),
            y=_px(y(p.figures.available_balance)),
            kind=p.mark.kind,
            at=stamp(p.at),
            instant=p.at.isoformat().replace("+00:00", "Z"),
            amount=canonical(p.mark.amount),
            available=canonical(p.figures.available_balance),
            running=canonical(p.figures.running_balance),
            credit_id=p.mark.credit_id,
        )
        for p in points
        if p.mark is not None
    ]
    y_ticks = [Tick(_px(y(top * k / 4)), canonical(top * k / 4)) for k in range(5)]
    # Days for a long history; clock times when the whole history fits in two days.
    cut = slice(0, 10) if t1 - t0 > timedelta(days=2) else slice(11, 19)
    x_ticks = [Tick(_px(x(at)), stamp(at)[cut]) for at in (t0, t0 + (t1 - t0) / 2, t1)]
    return ChartSvg(
        WIDTH,
        HEIGHT,
        step_path([p.figures.available_balance for p in points]),
        step_path([p.figures.running_balance for p in points]),
        markers,
        y_ticks,
        x_ticks,
        points[-1],
    )
