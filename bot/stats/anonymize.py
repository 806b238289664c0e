"""The anonymity rules, applied to every figure before anything leaves the bot.

1. A figure about people that was computed from fewer than ``k`` distinct persons is not
   shown; it reads "< k". ``k`` is configurable, never below 3. A zero that no person
   contributed to is shown: it tells nothing about anyone, and hiding it would hide its
   whole group (rule 2) for nothing.
2. Complementary suppression: figures that add up to or are derived from each other are
   hidden together, so a hidden one cannot be worked out from the shown ones.
3. Optional noise: counts get discrete Laplace noise with scale 1/ε from OpenDP; the report
   states ε. Shares and medians are not noised (they are shown only above the threshold).

What remains is a number or ``None`` (hidden, or nothing to compute) per figure: no person,
pseudonym or timestamp passes this point.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from bot.stats.aggregate import Figure
from bot.stats.hierarchy import close_groups

MIN_K = 3


@dataclass(frozen=True)
class Cell:
    key: str
    value: float | None  # None: nothing to show (suppressed or no data)
    suppressed: bool
    unit: str


def laplace_noise(epsilon: float) -> Callable[[int], int]:
    """Discrete Laplace noise from OpenDP with scale 1/ε (one person changes a count by 1)."""
    import opendp.prelude as dp

    dp.enable_features("contrib")
    mechanism = dp.m.make_laplace(dp.atom_domain(T=int), dp.absolute_distance(T=int), scale=1.0 / epsilon)
    return lambda value: max(0, int(mechanism(int(value))))


def below_threshold(figures: Mapping[str, Figure], k: int) -> set[str]:
    """Rules 1 and 2: the figures to hide, before any sum is considered."""
    k = max(k, MIN_K)
    # A non-zero figure with no one behind it any more (people erased after a week was frozen,
    # counted in a month's sum) is hidden as well: it is about someone.
    hidden = {
        key
        for key, f in figures.items()
        if f.about_people and f.value is not None and len(f.persons) < k and (f.persons or f.value != 0)
    }
    close_groups(hidden, figures.keys())
    return hidden


def cells_of(
    figures: Mapping[str, Figure], hidden: Collection[str], noise: Callable[[int], int] | None = None
) -> dict[str, Cell]:
    """What may be shown: hidden figures lose their value, shown counts get the noise."""
    cells = {}
    for key, f in figures.items():
        if key in hidden:
            cells[key] = Cell(key, None, True, f.unit)
            continue
        value = f.value
        if value is not None and noise is not None and f.unit == "count":
            value = noise(int(value))
        cells[key] = Cell(key, value, False, f.unit)
    return cells


def anonymize(
    figures: Mapping[str, Figure], k: int, noise: Callable[[int], int] | None = None
) -> dict[str, Cell]:
    return cells_of(figures, below_threshold(figures, k), noise)
