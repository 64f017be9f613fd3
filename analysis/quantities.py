"""What the words of a reported number allow: the bounds each wording gives, declared once.

A figure's ``qualifier`` is the article's words for its number ("Hundreds", "more than 200"). The
figure's low, best and high must be exactly what those words allow, nothing more precise: the loader
holds every figure to the rule of its wording, and refuses a wording no rule here covers, so that a
new one gets a rule of its own before any report shows a number for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

Bounds = tuple[int | None, int | None, int | None]  # low, best, high; None: the words give none

_NUMBER = r"(?P<number>[0-9]{1,3}(?:,[0-9]{3}){1,5}|[0-9]{1,18})"  # 200, 1,500 or 1500; a 64-bit integer at most


@dataclass(frozen=True)
class Wording:
    """One way words give a number: its forms ('N' stands for the number), its rule in words, its bounds."""

    forms: str  # 'more than N / over N', as a refusal lists it
    rule: str
    bounds: Callable[[int | None], Bounds]

    def read(self, words: str) -> Bounds | None:
        """The bounds ``words`` give if they are one of this wording's forms (case aside), else None."""
        for form in self.forms.split(" / "):
            match = re.fullmatch(re.escape(form).replace("N", _NUMBER), words, flags=re.IGNORECASE)
            if match:
                number = match.groupdict().get("number")
                return self.bounds(None if number is None else int(number.replace(",", "")))
        return None


def _plural(word: str, least: int) -> Wording:
    """'Hundreds': at least two hundred, the least the plural allows."""
    rule = f"'{word.capitalize()}' means at least {least:,}, the least the plural allows, with no best estimate or upper bound"
    return Wording(word, rule, lambda _: (least, None, None))


WORDINGS = (
    Wording("N", "a number alone is exact: low, best and high are all that number", lambda n: (n, n, n)),
    Wording(
        "more than N / over N",
        "'more than N' means at least N + 1, with no best estimate or upper bound",
        lambda n: (n + 1, None, None),
    ),
    Wording("at least N", "'at least N' means low N, with no best estimate or upper bound", lambda n: (n, None, None)),
    Wording(
        "fewer than N / less than N",
        "'fewer than N' means high N - 1, with no lower bound or best estimate",
        lambda n: (None, None, n - 1),
    ),
    Wording("up to N / at most N", "'up to N' means high N, with no lower bound or best estimate", lambda n: (None, None, n)),
    Wording(
        "about N / around N / some N / approximately N / roughly N",
        "'about N' gives a best estimate N, with no lower or upper bound",
        lambda n: (None, n, None),
    ),
    _plural("dozens", 24),
    _plural("scores", 40),
    _plural("hundreds", 200),
    _plural("thousands", 2_000),
    _plural("tens of thousands", 20_000),
    _plural("hundreds of thousands", 200_000),
    _plural("millions", 2_000_000),
)

KNOWN_FORMS = "; ".join(wording.forms for wording in WORDINGS)


def allowed(words: str) -> tuple[Bounds, str] | None:
    """The bounds ``words`` allow and the rule that gives them, or None for a wording no rule covers."""
    spaced = " ".join(words.split())
    for wording in WORDINGS:
        bounds = wording.read(spaced)
        if bounds is not None:
            return bounds, wording.rule
    return None
