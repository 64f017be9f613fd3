"""The days a relative wording of time allows, counted from the day its source was published, declared once.

An inferred date rests on words such as "last month" or "over the last five months" (an event's
``date_text``). Where a rule here knows the words, the loader holds the event's start and end to the
days they give: "last month", in an article of 19 April 2017, is 1 to 31 March 2017, and no other
month. Words no rule knows are left to the event's ``date_note``, which says how its date was inferred.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
_COUNTS = {
    word: number
    for number, word in enumerate(
        ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"], 1
    )
}

Days = tuple[date, date]  # the earliest and latest day the words allow


def _month_start(year: int, month: int) -> date:
    """The first day of a month counted from any month number (0 is the December before, -1 the November)."""
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return date(year, month, 1)


def _month_end(start: date) -> date:
    return start.replace(day=calendar.monthrange(start.year, start.month)[1])


def _last_month(published: date, _: re.Match) -> Days:
    start = _month_start(published.year, published.month - 1)
    return start, _month_end(start)


def _last_months(published: date, match: re.Match) -> Days:
    count = match["count"].lower()
    months = _COUNTS[count] if count in _COUNTS else int(count)
    return _month_start(published.year, published.month - months), published


def _named_month(published: date, match: re.Match) -> Days:
    """'for April': the latest April up to the day of publication, and within it no later than that day."""
    month = _MONTHS[match["month"].lower()]
    start = date(published.year if month <= published.month else published.year - 1, month, 1)
    return start, min(_month_end(start), published)


def _this_month(published: date, _: re.Match) -> Days:
    return published.replace(day=1), published


def _last_year(published: date, _: re.Match) -> Days:
    return date(published.year - 1, 1, 1), date(published.year - 1, 12, 31)


def _yesterday(published: date, _: re.Match) -> Days:
    return published - timedelta(days=1), published - timedelta(days=1)


_COUNT = rf"(?P<count>{'|'.join(_COUNTS)}|[1-9][0-9]?)"
_MONTH = rf"(?P<month>{'|'.join(_MONTHS)})"


@dataclass(frozen=True)
class RelativeWording:
    pattern: str
    rule: str
    days: Callable[[date, re.Match], Days]


WORDINGS = (
    RelativeWording("(?:last|the previous) month", "'last month' is the calendar month before the source's", _last_month),
    RelativeWording(
        rf"(?:over |in )?the (?:last|past) {_COUNT} months",
        "'the last N months' run from the first day of the month N months before the source's to its day",
        _last_months,
    ),
    RelativeWording(
        rf"(?:for |in )?{_MONTH}",
        "a month named without its year is the latest such month up to the source's day, and ends no later than it",
        _named_month,
    ),
    RelativeWording("(?:earlier )?this month", "'this month' runs from the first of the source's month to its day", _this_month),
    RelativeWording("last year", "'last year' is the calendar year before the source's", _last_year),
    RelativeWording("yesterday", "'yesterday' is the day before the source's", _yesterday),
)


def days_allowed(words: str, published: date) -> tuple[Days, str] | None:
    """The days ``words`` allow in a source published on ``published``, and the rule; None if no rule knows them."""
    spaced = " ".join(words.split())
    for wording in WORDINGS:
        match = re.fullmatch(wording.pattern, spaced, flags=re.IGNORECASE)
        if match:
            return wording.days(published, match), wording.rule
    return None
