"""Business-day arithmetic. Every expected date below is worked out by hand in its comment."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from disclosure_inbox.domain.calendar import BusinessCalendar

US_NY = BusinessCalendar.build("America/New_York", "US")
DE_BERLIN = BusinessCalendar.build("Europe/Berlin", "DE")
GB_LONDON = BusinessCalendar.build("Europe/London", "GB", "ENG")
PLAIN_NY = BusinessCalendar.build("America/New_York")  # weekends only, no holidays
PLAIN_BERLIN = BusinessCalendar.build("Europe/Berlin")
SHUTDOWN_NY = BusinessCalendar.build(
    "America/New_York", "US", closures=[date(2026, 12, 24), date(2026, 12, 31)]
)
SUN_TO_THU = BusinessCalendar.build("Asia/Jerusalem", workdays=["sun", "mon", "tue", "wed", "thu"])


def at(cal: BusinessCalendar, text: str) -> datetime:
    """A local wall time in the calendar's zone."""
    return datetime.fromisoformat(text).replace(tzinfo=cal.tz)


ADD_CASES = [
    # (calendar, event: local wall time, or an instant with its offset, n, deadline's date)
    # Wed 1 Jul. Thu 2 (1), Fri 3 Independence Day observed, Sat 4, Sun 5, Mon 6 (2),
    # Tue 7 (3), Wed 8 (4), Thu 9 (5).
    pytest.param(US_NY, "2026-07-01T10:00", 5, "2026-07-09", id="policy-example-independence-day"),
    # Fri 15 May evening: the day itself never counts. Sat, Sun, Mon 18 (1), Tue 19 (2),
    # Wed 20 (3), Thu 21 (4), Fri 22 (5). Whit Monday is 25 May, after the deadline.
    pytest.param(DE_BERLIN, "2026-05-15T19:30", 5, "2026-05-22", id="friday-evening"),
    # 01:00Z Sat 13 Jun is 21:00 EDT Fri 12 Jun, so the local date is Friday. Mon 15 (1),
    # Tue 16 (2), Wed 17 (3), Thu 18 (4), Fri 19 Juneteenth, Sat, Sun, Mon 22 (5).
    pytest.param(
        US_NY,
        "2026-06-13T01:00+00:00",
        5,
        "2026-06-22",
        id="friday-evening-given-in-utc-before-juneteenth",
    ),
    # Sat 12 Sep. Sun 13, Mon 14 (1), Tue 15 (2), Wed 16 (3), Thu 17 (4), Fri 18 (5).
    pytest.param(US_NY, "2026-09-12T11:00", 5, "2026-09-18", id="saturday"),
    # Sat 12 Sep. Sun 13, Mon 14 (1).
    pytest.param(US_NY, "2026-09-12T11:00", 1, "2026-09-14", id="saturday-one-day"),
    # Mon 25 May is Memorial Day; like any event date it does not count. Tue 26 (1),
    # Wed 27 (2), Thu 28 (3), Fri 29 (4), Sat, Sun, Mon 1 Jun (5).
    pytest.param(US_NY, "2026-05-25T08:00", 5, "2026-06-01", id="on-a-public-holiday"),
    # Wed 25 Nov. Thu 26 Thanksgiving, Fri 27 (1) (not a federal holiday), Sat, Sun,
    # Mon 30 (2), Tue 1 Dec (3), Wed 2 (4), Thu 3 (5).
    pytest.param(US_NY, "2026-11-25T16:00", 5, "2026-12-03", id="day-before-a-holiday"),
    # Wed 1 Apr. Thu 2 (1), Fri 3 Good Friday, Sat, Sun, Mon 6 Easter Monday, Tue 7 (2),
    # Wed 8 (3), Thu 9 (4), Fri 10 (5).
    pytest.param(DE_BERLIN, "2026-04-01T12:00", 5, "2026-04-10", id="over-easter-de"),
    # Thu 24 Dec (a working day federally). Fri 25 Christmas, Sat, Sun, Mon 28 (1),
    # Tue 29 (2), Wed 30 (3), Thu 31 (4), Fri 1 Jan New Year, Sat, Sun, Mon 4 (5).
    pytest.param(US_NY, "2026-12-24T15:00", 5, "2027-01-04", id="christmas-and-new-year-us"),
    # Wed 23 Dec. Thu 24 (1) (Christmas Eve is not a public holiday), Fri 25 and Sat 26
    # Christmas, Sun 27, Mon 28 (2), Tue 29 (3), Wed 30 (4), Thu 31 (5).
    pytest.param(DE_BERLIN, "2026-12-23T10:00", 5, "2026-12-31", id="christmas-de"),
    # Thu 24 Dec. Fri 25 Christmas, Sat 26 Boxing Day, Sun 27, Mon 28 Boxing Day observed,
    # Tue 29 (1), Wed 30 (2), Thu 31 (3), Fri 1 Jan New Year, Sat, Sun, Mon 4 (4), Tue 5 (5).
    pytest.param(
        GB_LONDON, "2026-12-24T10:00", 5, "2027-01-05", id="christmas-and-new-year-england"
    ),
    # Fri 6 Mar EST. Sat 7, Sun 8 clocks go forward, Mon 9 (1), Tue 10 (2), Wed 11 (3),
    # Thu 12 (4), Fri 13 (5), now EDT.
    pytest.param(US_NY, "2026-03-06T12:00", 5, "2026-03-13", id="dst-start-new-york"),
    # Fri 30 Oct EDT. Sat 31, Sun 1 Nov clocks go back, Mon 2 (1), Tue 3 (2) (election day
    # is no federal holiday), Wed 4 (3), Thu 5 (4), Fri 6 (5), now EST.
    pytest.param(US_NY, "2026-10-30T12:00", 5, "2026-11-06", id="dst-end-new-york"),
    # 06:30Z is 01:30 EST on Sun 1 Nov, the second time 01:30 happens that night. Mon 2 (1).
    pytest.param(US_NY, "2026-11-01T06:30+00:00", 1, "2026-11-02", id="in-the-repeated-hour"),
    # Fri 27 Mar CET. Sun 29 clocks go forward, Mon 30 (1), Tue 31 (2), Wed 1 Apr (3),
    # Thu 2 (4), Fri 3 Good Friday, Sat, Sun, Mon 6 Easter Monday, Tue 7 (5), now CEST.
    pytest.param(DE_BERLIN, "2026-03-27T12:00", 5, "2026-04-07", id="dst-start-berlin-then-easter"),
    # Fri 23 Oct CEST. Sun 25 clocks go back, Mon 26 (1), Tue 27 (2), Wed 28 (3),
    # Thu 29 (4), Fri 30 (5), now CET.
    pytest.param(DE_BERLIN, "2026-10-23T12:00", 5, "2026-10-30", id="dst-end-berlin"),
    # 02:00Z Fri 3 Jul is 22:00 EDT Thu 2 Jul in New York. Fri 3 (1): no holidays here.
    pytest.param(PLAIN_NY, "2026-07-03T02:00+00:00", 1, "2026-07-03", id="same-instant-new-york"),
    # The same instant is 04:00 CEST Fri 3 Jul in Berlin. Sat, Sun, Mon 6 (1).
    pytest.param(PLAIN_BERLIN, "2026-07-03T02:00+00:00", 1, "2026-07-06", id="same-instant-berlin"),
    # Wed 23 Dec. Thu 24 closed, Fri 25 Christmas, Sat, Sun, Mon 28 (1), Tue 29 (2),
    # Wed 30 (3), Thu 31 closed, Fri 1 Jan New Year, Sat, Sun, Mon 4 (4), Tue 5 (5).
    pytest.param(SHUTDOWN_NY, "2026-12-23T15:00", 5, "2027-01-05", id="extra-closure-dates"),
    # Thu 2 Jul. Fri 3 and Sat 4 are the weekend, Sun 5 (1), Mon 6 (2), Tue 7 (3),
    # Wed 8 (4), Thu 9 (5).
    pytest.param(SUN_TO_THU, "2026-07-02T10:00", 5, "2026-07-09", id="sunday-to-thursday-week"),
    # Fri 10 Jul. Sat 11 weekend, Sun 12 (1).
    pytest.param(SUN_TO_THU, "2026-07-10T10:00", 1, "2026-07-12", id="sunday-is-a-workday"),
]


@pytest.mark.parametrize(("cal", "event", "n", "expected"), ADD_CASES)
def test_add_business_days_ends_at_the_end_of_the_nth_business_day(
    cal: BusinessCalendar, event: str, n: int, expected: str
) -> None:
    instant = datetime.fromisoformat(event)
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=cal.tz)
    deadline = cal.add_business_days(instant, n)
    assert deadline.tzinfo == cal.tz
    assert deadline.replace(tzinfo=None) == datetime.combine(
        date.fromisoformat(expected), time(23, 59, 59)
    )


@pytest.mark.parametrize(
    ("cal", "event", "offset"),
    [
        (US_NY, at(US_NY, "2026-03-06T12:00"), timedelta(hours=-4)),  # Fri 13 Mar, EDT
        (US_NY, at(US_NY, "2026-10-30T12:00"), timedelta(hours=-5)),  # Fri 6 Nov, EST
        (DE_BERLIN, at(DE_BERLIN, "2026-03-27T12:00"), timedelta(hours=2)),  # Tue 7 Apr, CEST
        (DE_BERLIN, at(DE_BERLIN, "2026-10-23T12:00"), timedelta(hours=1)),  # Fri 30 Oct, CET
    ],
)
def test_deadline_after_a_dst_change_carries_the_new_offset(
    cal: BusinessCalendar, event: datetime, offset: timedelta
) -> None:
    # The event's offset differs from the deadline's: the count is in local dates, not hours.
    assert event.utcoffset() != offset
    assert cal.add_business_days(event, 5).utcoffset() == offset


def test_the_same_instant_has_different_local_dates() -> None:
    instant = datetime(2026, 7, 3, 2, 0, tzinfo=UTC)
    assert PLAIN_NY.local_date(instant) == date(2026, 7, 2)  # 22:00 EDT on Thursday
    assert PLAIN_BERLIN.local_date(instant) == date(2026, 7, 3)  # 04:00 CEST on Friday


@pytest.mark.parametrize(
    ("cal", "day", "expected"),
    [
        (US_NY, date(2026, 7, 2), True),  # Thursday
        (US_NY, date(2026, 7, 3), False),  # Independence Day observed
        (US_NY, date(2026, 7, 4), False),  # Saturday
        (US_NY, date(2027, 12, 31), False),  # New Year 2028 falls on Saturday: observed Friday
        (DE_BERLIN, date(2026, 6, 4), True),  # Corpus Christi is not a national holiday
        (BusinessCalendar.build("Europe/Berlin", "de", "by"), date(2026, 6, 4), False),  # Bavaria
        (SHUTDOWN_NY, date(2026, 12, 24), False),  # closure date
        (SUN_TO_THU, date(2026, 7, 5), True),  # Sunday
        (SUN_TO_THU, date(2026, 7, 3), False),  # Friday
    ],
)
def test_is_business_day(cal: BusinessCalendar, day: date, expected: bool) -> None:
    assert cal.is_business_day(day) is expected


@pytest.mark.parametrize(
    ("deadline", "n", "expected"),
    [
        # Thu 9 Jul end of day, one business day earlier: Wed 8 at the same time.
        (at(US_NY, "2026-07-09T23:59:59"), 1, at(US_NY, "2026-07-08T23:59:59")),
        # Mon 6 Jul: Sun 5, Sat 4, Fri 3 holiday, Thu 2.
        (at(US_NY, "2026-07-06T23:59:59"), 1, at(US_NY, "2026-07-02T23:59:59")),
        # Mon 9 Mar EDT back over the DST change to Fri 6 Mar EST, same wall time.
        (at(US_NY, "2026-03-09T23:59:59"), 1, at(US_NY, "2026-03-06T23:59:59")),
        # Tue 5 Jan 2027, three back: Mon 4 (1), Fri 1 holiday, Thu 31 (2), Wed 30 (3).
        (at(US_NY, "2027-01-05T17:00"), 3, at(US_NY, "2026-12-30T17:00")),
        # Zero: the deadline itself.
        (at(US_NY, "2026-07-09T23:59:59"), 0, at(US_NY, "2026-07-09T23:59:59")),
    ],
)
def test_subtract_business_days(deadline: datetime, n: int, expected: datetime) -> None:
    result = US_NY.subtract_business_days(deadline, n)
    assert result == expected
    assert result.replace(tzinfo=None) == expected.replace(tzinfo=None)


def test_subtract_into_a_dst_gap_gives_the_real_instant_after_it() -> None:
    every_day = BusinessCalendar.build("America/New_York", workdays=range(7))
    # 02:30 on Sun 8 Mar 2026 does not exist in New York (02:00 EST jumps to 03:00 EDT).
    result = every_day.subtract_business_days(at(every_day, "2026-03-09T02:30"), 1)
    assert result == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)  # 02:30 EST read as 03:30 EDT


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (at(US_NY, "2026-07-09T23:59:59"), at(US_NY, "2026-07-09T10:00"), 0),  # same date
        (at(US_NY, "2026-07-09T23:59:59"), at(US_NY, "2026-07-10T00:30"), 1),  # Fri 10
        (at(US_NY, "2026-07-09T23:59:59"), at(US_NY, "2026-07-12T12:00"), 1),  # Fri 10; Sat, Sun
        (at(US_NY, "2026-07-09T23:59:59"), at(US_NY, "2026-07-13T09:00"), 2),  # Fri 10, Mon 13
        (at(US_NY, "2026-07-02T12:00"), at(US_NY, "2026-07-06T12:00"), 1),  # Fri 3 hol; Mon 6
        (at(US_NY, "2026-07-01T10:00"), at(US_NY, "2026-07-09T23:59:59"), 5),  # as in the example
        (at(US_NY, "2026-07-09T23:59:59"), at(US_NY, "2026-07-01T10:00"), -5),  # reversed
    ],
)
def test_business_days_between(a: datetime, b: datetime, expected: int) -> None:
    assert US_NY.business_days_between(a, b) == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "unknown IANA time zone"),
        ({"timezone": "UTC", "country": "XX"}, "unknown holiday country 'XX'"),
        ({"timezone": "UTC", "country": "DE", "subdivision": "ZZ"}, "unknown holiday subdivision"),
        ({"timezone": "UTC", "subdivision": "BY"}, "without a country"),
        ({"timezone": "UTC", "workdays": []}, "at least one workday"),
        ({"timezone": "UTC", "workdays": ["mon", "funday"]}, "unknown workday 'funday'"),
        ({"timezone": "UTC", "workdays": [7]}, "unknown workday 7"),
        ({"timezone": "UTC", "closures": [datetime(2026, 1, 2, tzinfo=UTC)]}, "must be dates"),
    ],
)
def test_build_rejects_bad_configuration(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BusinessCalendar.build(**kwargs)


def test_build_accepts_names_and_numbers_for_workdays() -> None:
    cal = BusinessCalendar.build("UTC", workdays=["Sunday", "mon", 2, "THU"])
    assert cal.workdays == frozenset({6, 0, 2, 3})


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        US_NY.local_date(datetime(2026, 7, 1, 10, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        US_NY.add_business_days(datetime(2026, 7, 1, 10, 0), 5)


@pytest.mark.parametrize("n", [0, -1])
def test_add_needs_at_least_one_day(n: int) -> None:
    with pytest.raises(ValueError, match="n >= 1"):
        US_NY.add_business_days(at(US_NY, "2026-07-01T10:00"), n)


def test_a_calendar_with_every_workday_closed_fails_instead_of_looping() -> None:
    first_sunday = date(2026, 1, 4)
    sundays = [first_sunday + timedelta(weeks=w) for w in range(52 * 12)]
    cal = BusinessCalendar.build("UTC", workdays=["sun"], closures=sundays)
    with pytest.raises(ValueError, match="no business day within"):
        cal.add_business_days(datetime(2026, 1, 1, tzinfo=UTC), 1)
