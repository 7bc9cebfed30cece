"""Business days: working weekdays, public holidays, closure dates and the organisation's time zone.

What "N business days after an event" means here, everywhere in the package:

    The deadline is the end (23:59:59 local time) of the Nth business day strictly after the
    local calendar date of the event. The event's own date never counts, whether or not it is
    a business day and whatever the time of day.

So a report received on Wednesday 2026-07-01 at 10:00 in New York, with Independence Day observed
on Friday 2026-07-03, is due five business days later at the end of Thursday 2026-07-09 (Thu 2,
Mon 6, Tue 7, Wed 8, Thu 9). Counting whole local days, rather than 24-hour periods, is what a
reporter reading "within five business days" expects, and it makes a deadline independent of the
hour the mail happened to arrive and of daylight-saving changes in between.

A business day is a local date whose weekday is a workday and which is neither a public holiday
(from the ``holidays`` package, including "observed" days) nor an extra closure date.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MON_TO_FRI: frozenset[int] = frozenset(range(5))
END_OF_DAY = time(23, 59, 59)

# A calendar that finds no business day within ten years is misconfigured (every workday closed);
# stop there instead of looping for ever.
_MAX_SEARCH_DAYS = 3660


@functools.lru_cache(maxsize=256)
def _holiday_dates(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    """Public holidays dated in ``year``.

    Neighbouring years are computed too so that an observed day moved across New Year (1 January
    on a Saturday observed on Friday 31 December) is found whichever year's rules produce it.
    The result is immutable, so sharing it between calendars through the cache is safe.
    """
    found = holidays.country_holidays(country, subdiv=subdivision, years=(year - 1, year, year + 1))
    return frozenset(d for d in found if d.year == year)


def _check_holiday_region(country: str, subdivision: str | None) -> None:
    try:
        holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError as exc:
        # The package signals an unknown country or subdivision this way.
        raise ValueError(f"no public holidays known for {country!r}/{subdivision!r}") from exc


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    tz: ZoneInfo
    workdays: frozenset[int] = MON_TO_FRI  # Monday is 0, as in date.weekday()
    country: str | None = None  # ISO 3166-1 code understood by the holidays package
    subdivision: str | None = None
    closures: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not self.workdays:
            raise ValueError("a business calendar needs at least one workday")
        if not self.workdays <= frozenset(range(7)):
            raise ValueError(
                f"workdays must be 0 (Monday) to 6 (Sunday), got {sorted(self.workdays)}"
            )
        if self.subdivision is not None and self.country is None:
            raise ValueError("a holiday subdivision needs a country")
        if self.country is not None:
            _check_holiday_region(self.country, self.subdivision)
        # datetime is a subclass of date but never equal to one, so it would silently not match.
        bad = [d for d in self.closures if isinstance(d, datetime) or not isinstance(d, date)]
        if bad:
            raise ValueError(f"closures must be dates, got {bad[0]!r}")

    @classmethod
    def build(
        cls,
        timezone: str,
        country: str | None = None,
        subdivision: str | None = None,
        workdays: Iterable[str | int] = ("mon", "tue", "wed", "thu", "fri"),
        closures: Iterable[date] = (),
    ) -> BusinessCalendar:
        """Build from configuration values, with messages that name the bad value.

        Country codes are matched case-insensitively, as are subdivision codes (``"by"`` is
        Bavaria); workdays are ``"mon"``/``"monday"`` style names or 0-6 with Monday 0.
        """
        try:
            tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {timezone!r}") from exc
        country_code, subdiv_code = _resolve_region(country, subdivision)
        return cls(
            tz=tz,
            workdays=frozenset(_parse_workday(w) for w in workdays),
            country=country_code,
            subdivision=subdiv_code,
            closures=frozenset(closures),
        )

    def is_business_day(self, d: date) -> bool:
        if d.weekday() not in self.workdays or d in self.closures:
            return False
        if self.country is None:
            return True
        return d not in _holiday_dates(self.country, self.subdivision, d.year)

    def local_date(self, instant: datetime) -> date:
        """The calendar date of ``instant`` in the calendar's time zone."""
        return self._local(instant).date()

    def add_business_days(self, event: datetime, n: int) -> datetime:
        """The end of the ``n``-th business day strictly after the event's local date (n >= 1)."""
        if n < 1:
            raise ValueError(f"add_business_days needs n >= 1, got {n}")
        day = self.local_date(event)
        for _ in range(n):
            day = self._next_business_day(day, step=1)
        return self._at(day, END_OF_DAY)

    def subtract_business_days(self, deadline: datetime, n: int) -> datetime:
        """The same local time of day on the ``n``-th business day before the deadline's date.

        ``n == 0`` returns the deadline itself (in the calendar's zone). Used for "one business day
        before the deadline": for a deadline at the end of Thursday that is the end of Wednesday.
        """
        if n < 0:
            raise ValueError(f"subtract_business_days needs n >= 0, got {n}")
        local = self._local(deadline)
        day = local.date()
        for _ in range(n):
            day = self._next_business_day(day, step=-1)
        return self._at(day, local.time()) if n else local

    def business_days_between(self, a: datetime, b: datetime) -> int:
        """Business days in (a's local date, b's local date]; negative when b is earlier.

        Zero on the same local date. With a = a deadline and b = now it says how late: 1 from
        the first business day after the deadline's date until the second one begins.
        """
        start, end = self.local_date(a), self.local_date(b)
        sign = 1
        if end < start:
            start, end, sign = end, start, -1
        count = 0
        day = start
        while day < end:
            day += timedelta(days=1)
            count += self.is_business_day(day)
        return sign * count

    def _next_business_day(self, start: date, *, step: int) -> date:
        day = start
        for _ in range(_MAX_SEARCH_DAYS):
            day += timedelta(days=step)
            if self.is_business_day(day):
                return day
        raise ValueError(f"no business day within {_MAX_SEARCH_DAYS} days of {start}")

    def _local(self, instant: datetime) -> datetime:
        if instant.tzinfo is None or instant.utcoffset() is None:
            raise ValueError(f"expected a timezone-aware datetime, got naive {instant.isoformat()}")
        return instant.astimezone(self.tz)

    def _at(self, day: date, wall: time) -> datetime:
        # A wall time inside a spring-forward gap does not exist; the round trip through UTC
        # turns it into the real instant just after the gap.
        naive = datetime.combine(day, wall.replace(tzinfo=None))
        return naive.replace(tzinfo=self.tz).astimezone(UTC).astimezone(self.tz)


def _parse_workday(value: str | int) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 6:
        return value
    if isinstance(value, str):
        name = value.strip().lower()
        for names in (_DAY_NAMES, _FULL_DAY_NAMES):
            if name in names:
                return names.index(name)
    raise ValueError(f"unknown workday {value!r}: use mon..sun or 0 (Monday) to 6 (Sunday)")


def _resolve_region(country: str | None, subdivision: str | None) -> tuple[str | None, str | None]:
    if country is None or not country.strip():
        if subdivision:
            raise ValueError(f"holiday subdivision {subdivision!r} given without a country")
        return None, None
    supported = holidays.list_supported_countries()
    code = country.strip().upper()
    if code not in supported:
        raise ValueError(
            f"unknown holiday country {country!r}: use an ISO 3166-1 code such as US, DE or GB"
        )
    if subdivision is None or not subdivision.strip():
        return code, None
    wanted = subdivision.strip().casefold()
    for candidate in supported[code]:
        if candidate.casefold() == wanted:
            return code, candidate
    known = ", ".join(supported[code][:12]) + (", ..." if len(supported[code]) > 12 else "")
    raise ValueError(
        f"unknown holiday subdivision {subdivision!r} for {code}: expected one of {known}"
    )
