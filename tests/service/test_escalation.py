"""SLA deadlines, the workflow and escalations: real Dovecot, real SMTP, frozen clock."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from disclosure_inbox.service.app import App
from disclosure_inbox.testing.mailgen import simple

NY = ZoneInfo("America/New_York")
US = {"country": "US"}
ORG_NY = {"timezone": "America/New_York"}


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)


def staff_mail(d):
    return [m for m in d.sink.messages if "lead@m.io" in m.rcpt_tos]


def ack_due(d, ref: str) -> str:
    shown = json.loads(d.cli("reports", "show", ref, "--format", "json").stdout)
    [clock] = [c for c in shown["clocks"] if c["name"] == "acknowledgement"]
    return clock["due_at"]


# Hand-computed with US federal holidays in America/New_York: the event's own date never
# counts; five business days end at 23:59:59 local time of the fifth.
DUE_CASES = [
    # Wed 07-01 10:00; Fri 07-03 is Independence Day observed: Thu 2, Mon 6, Tue 7, Wed 8, Thu 9
    (at(2026, 7, 1, 10, 0), "2026-07-09T23:59:59-04:00"),
    # Saturday 07-04: Mon 6, Tue 7, Wed 8, Thu 9, Fri 10
    (at(2026, 7, 4, 12, 0), "2026-07-10T23:59:59-04:00"),
    # Friday evening 07-10 20:00 EDT (already Saturday in UTC): Mon 13 .. Fri 17
    (at(2026, 7, 10, 20, 0), "2026-07-17T23:59:59-04:00"),
    # Labor Day, Mon 09-07: Tue 8, Wed 9, Thu 10, Fri 11, Mon 14
    (at(2026, 9, 7, 9, 0), "2026-09-14T23:59:59-04:00"),
    # The day before Thanksgiving (Thu 11-26): Fri 27, Mon 30, Tue 1, Wed 2, Thu 12-03
    (at(2026, 11, 25, 16, 0), "2026-12-03T23:59:59-05:00"),
    # Christmas Eve 2025 (Wed): 25th and New Year's Day are holidays: Fri 26, 29, 30, 31, Fri 01-02
    (at(2025, 12, 24, 15, 0), "2026-01-02T23:59:59-05:00"),
    # Across the DST change (Sun 2026-03-08): Fri 03-06 received, Mon 9 .. Fri 13, now EDT
    (at(2026, 3, 6, 12, 0), "2026-03-13T23:59:59-04:00"),
]


def test_due_dates_on_weekends_and_holidays(make_deployment):
    d = make_deployment(calendar=US, organization=ORG_NY)
    received = [when for when, _ in DUE_CASES]
    d.account.append([simple(f"case {i}") for i in range(len(received))], internaldates=received)
    d.run_once()
    refs = [r for (r,) in d.rows("SELECT ref FROM reports ORDER BY received_at")]
    assert len(refs) == len(DUE_CASES)
    for ref, (_when, expected) in zip(
        refs,
        sorted(DUE_CASES),
        strict=True,
    ):
        assert ack_due(d, ref) == expected, ref


def test_acknowledgement_states_the_due_date_in_the_organisations_zone(make_deployment):
    d = make_deployment(calendar=US, organization=ORG_NY)
    d.account.append([simple("XSS")], internaldates=[at(2026, 7, 1, 10, 0)])
    d.run_once()
    [ack] = d.sink.messages
    text = ack.message.get_body(("plain",)).get_content()
    assert "Thursday 09 July 2026, 23:59 EDT" in text
    assert "Wednesday 01 July 2026, 10:00 EDT" in text


@pytest.fixture
def escalating(make_deployment):
    d = make_deployment(calendar=US, organization=ORG_NY, escalation={"digest": False})
    d.account.append([simple("Critical RCE")], internaldates=[at(2026, 7, 1, 10, 0)])
    d.clock.set(at(2026, 7, 1, 10, 5))
    d.run_once()  # the acknowledgement; due Thu 2026-07-09 23:59:59 EDT
    assert len(d.sink.messages) == 1
    return d


def test_each_escalation_step_is_sent_exactly_once_across_restarts(escalating):
    d = escalating
    d.clock.set(at(2026, 7, 8, 12, 0))
    d.run_once()
    assert staff_mail(d) == []  # due-soon fires at the end of Wednesday, one day before

    d.clock.set(at(2026, 7, 9, 0, 5))
    d.run_once()
    [soon] = staff_mail(d)
    assert soon.message["Subject"].startswith("[MIO-2026-0001] due-soon: acknowledgement")
    assert soon.message["Auto-Submitted"] == "auto-generated"
    body = soon.message.get_body(("plain",)).get_content()
    assert "Thu 2026-07-09 23:59 EDT" in body

    d.run_once()
    App.build(d.settings, clock=d.clock)  # a restarted service: new engine, same store
    d.run_once()
    assert len(staff_mail(d)) == 1

    d.clock.set(at(2026, 7, 10, 0, 5))
    d.run_once()
    d.run_once()
    assert [m.message["Subject"].split(":")[0] for m in staff_mail(d)] == [
        "[MIO-2026-0001] due-soon",
        "[MIO-2026-0001] overdue",
    ]
    d.clock.set(at(2026, 7, 11, 0, 5))  # after the end of Friday, the first day overdue
    d.run_once()
    assert len(staff_mail(d)) == 3
    assert staff_mail(d)[-1].message["Subject"].startswith("[MIO-2026-0001] overdue-again")
    rows = d.rows("SELECT tier, occurrence, late FROM escalations ORDER BY id")
    assert [(t, o, bool(late)) for t, o, late in rows] == [
        ("due-soon", 0, False),
        ("overdue", 0, False),
        ("overdue-again", 1, False),
    ]


def test_downtime_across_the_deadline_sends_once_marked_late(escalating):
    d = escalating
    d.clock.set(at(2026, 7, 14, 12, 0))  # down from 07-01 until Tuesday after the deadline
    d.run_once()
    subjects = sorted(m.message["Subject"].split(":")[0] for m in staff_mail(d))
    # No stale due-soon; the overdue step and the latest overdue-again step, both late.
    assert subjects == ["[MIO-2026-0001] overdue", "[MIO-2026-0001] overdue-again"]
    assert all(bool(late) for (late,) in d.rows("SELECT late FROM escalations"))
    assert "sent late" in staff_mail(d)[0].message.get_body(("plain",)).get_content()
    d.run_once()
    assert len(staff_mail(d)) == 2


def test_many_due_at_once_become_one_digest_per_recipient(make_deployment):
    d = make_deployment(
        calendar=US,
        organization={**ORG_NY, "staff_addresses": ["lead@m.io", "oncall@m.io"]},
    )
    subjects = ["see https://evil.example/x", "second", "third"]
    d.account.append([simple(s) for s in subjects], internaldates=[at(2026, 7, 1, 10, 0)] * 3)
    d.clock.set(at(2026, 7, 10, 1, 0))
    d.run_once()
    digests = [m for m in d.sink.messages if "SLA escalations" in m.message["Subject"]]
    assert sorted(m.rcpt_tos[0] for m in digests) == ["lead@m.io", "oncall@m.io"]
    body = digests[0].message.get_body(("plain",)).get_content()
    assert all(ref in body for ref in ("MIO-2026-0001", "MIO-2026-0002", "MIO-2026-0003"))
    assert "hxxps://evil[.]example/x" in body
    assert "https://evil.example" not in body


def test_workflow_commands_and_clocks(make_deployment):
    d = make_deployment(calendar=US, organization=ORG_NY)
    d.account.append([simple("one"), simple("two")])
    d.run_once()

    illegal = d.cli("reports", "set", "MIO-2026-0001", "--status", "verified", "--severity", "high")
    assert illegal.returncode == 2
    assert "cannot move from new to verified" in illegal.stderr
    missing = d.cli("reports", "set", "MIO-2026-0099", "--status", "triaged")
    assert missing.returncode == 2

    ok = d.cli(
        "reports",
        "set",
        "MIO-2026-0001",
        "--status",
        "triaged",
        "--note",
        "on it",
        "--actor",
        "alice",
    )
    assert ok.returncode == 0, ok.stderr
    shown = json.loads(d.cli("reports", "show", "MIO-2026-0001", "--format", "json").stdout)
    [ack] = shown["clocks"]
    assert ack["state"] == "met" and ack["stopped_at"] is not None
    [(actor, detail)] = d.rows("SELECT actor, detail FROM audit WHERE action = 'status-changed'")
    assert actor == "alice"
    assert "on it" in str(detail)

    assert (
        d.cli(
            "reports", "set", "MIO-2026-0001", "--status", "verified", "--severity", "critical"
        ).returncode
        == 0
    )
    shown = json.loads(d.cli("reports", "show", "MIO-2026-0001", "--format", "json").stdout)
    assert shown["severity"] == "critical"
    resolution = [c for c in shown["clocks"] if c["name"] == "resolution"]
    assert len(resolution) == 1 and resolution[0]["state"] == "running"

    # Severity without a resolution target: the clock goes away.
    assert (
        d.cli(
            "reports", "set", "MIO-2026-0001", "--status", "verified", "--severity", "low"
        ).returncode
        == 0
    )
    shown = json.loads(d.cli("reports", "show", "MIO-2026-0001", "--format", "json").stdout)
    assert [c["name"] for c in shown["clocks"]] == ["acknowledgement"]

    dup = d.cli(
        "reports",
        "set",
        "MIO-2026-0002",
        "--status",
        "duplicate",
        "--duplicate-of",
        "MIO-2026-0001",
    )
    assert dup.returncode == 0, dup.stderr
    listed = json.loads(
        d.cli("reports", "list", "--status", "duplicate", "--format", "json").stdout
    )
    assert [r["ref"] for r in listed] == ["MIO-2026-0002"]


def test_needs_info_pauses_the_resolution_clock(make_deployment):
    d = make_deployment(calendar=US, organization=ORG_NY)
    d.account.append([simple("one")])
    d.run_once()
    for status, extra in (
        ("triaged", []),
        ("verified", ["--severity", "critical"]),
        ("needs-info", []),
    ):
        r = d.cli("reports", "set", "MIO-2026-0001", "--status", status, *extra)
        assert r.returncode == 0, r.stderr
    shown = json.loads(d.cli("reports", "show", "MIO-2026-0001", "--format", "json").stdout)
    [resolution] = [c for c in shown["clocks"] if c["name"] == "resolution"]
    assert resolution["state"] == "paused"
    assert d.cli("reports", "set", "MIO-2026-0001", "--status", "verified").returncode == 0
    shown = json.loads(d.cli("reports", "show", "MIO-2026-0001", "--format", "json").stdout)
    [resolution] = [c for c in shown["clocks"] if c["name"] == "resolution"]
    assert resolution["state"] == "running"


def test_sla_due_shows_what_would_escalate_without_sending(escalating):
    d = escalating
    out = d.cli("sla", "due", "--at", "2026-07-10T09:00:00-04:00", "--format", "json")
    assert out.returncode == 0, out.stderr
    due = json.loads(out.stdout)
    assert [(x["ref"], x["tier"]) for x in due] == [("MIO-2026-0001", "overdue")]
    assert due[0]["recipients"] == ["lead@m.io"]
    assert staff_mail(d) == []
    assert d.scalar("SELECT count(*) FROM escalations") == 0
    overdue = d.cli("reports", "list", "--due-before", "2026-07-10", "--format", "json")
    assert [r["ref"] for r in json.loads(overdue.stdout)] == ["MIO-2026-0001"]
    none = d.cli("reports", "list", "--due-before", "2026-07-09", "--format", "json")
    assert json.loads(none.stdout) == []
