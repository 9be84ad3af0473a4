"""Charts drawn on the server as SVG geometry (no script, nothing fetched): the template draws the shapes."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

WIDTH, HEIGHT, BOTTOM, LEFT = 760, 260, 30, 70


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: Decimal


@dataclass(frozen=True)
class MonthBars:
    label: str
    x: float  # where the label is centred
    old: Bar
    new: Bar


def paired_bars(months: list[tuple[str, Decimal, Decimal]]) -> tuple[list[MonthBars], Decimal]:
    """Two bars per month (old, new), scaled to the largest value; and that value (the axis top)."""
    top = max([Decimal(0), *(max(old, new) for _, old, new in months)])
    plot = HEIGHT - BOTTOM
    slot = (WIDTH - LEFT) / max(1, len(months))
    bar = max(2.0, min(28.0, slot * 0.35))

    def one(x: float, value: Decimal) -> Bar:
        height = float(value / top) * (plot - 10) if top > 0 and value > 0 else 0.0
        return Bar(x, plot - height, bar, height, value)

    bars = []
    for i, (label, old, new) in enumerate(months):
        centre = LEFT + slot * (i + 0.5)
        bars.append(MonthBars(label, centre, one(centre - bar, old), one(centre, new)))
    return bars, top
