"""Triage end to end: hints, indicators and likely duplicates stored at intake and shown in
the staff notice, ``reports show``, ``reports list --hint`` and ``reports draft``; and the
evaluation command on the project's own labelled set. Real Dovecot, SMTP and both stores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from disclosure_inbox.testing.mailgen import simple

SET = Path(__file__).resolve().parents[1] / "triage" / "set"
STAFF = {"notify": True, "token_secret": "k" * 32}

HEADERS = (
    "Hello,\n\nthe site https://www.m.io/ is missing the X-Frame-Options header, so it can be "
    "framed by any site. Also the Content-Security-Policy header is not set.\n"
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:N/I:L/A:N\n\nRegards, Ana\n"
)


def test_a_new_report_carries_its_hints_indicators_and_duplicates(make_deployment):
    d = make_deployment(staff=STAFF)
    d.account.append(
        [
            simple("Missing security headers", body=HEADERS, message_id="<h1@example.org>"),
            simple(
                "Missing security headers (again)",
                body=HEADERS.replace("Regards", "Best regards"),
                sender="other@example.net",
                message_id="<h2@example.org>",
            ),
        ]
    )
    d.run_once()
    shown = json.loads(d.cli("reports", "show", "MIO-2026-0001", "--format", "json").stdout)
    triage = shown["triage"]
    top = triage["hints"][0]
    assert top["category"] == "best_practice"
    assert top["evidence"] in HEADERS  # a verbatim quote
    assert top["policy"].startswith("Reports based solely on best practices")
    assert 0.5 <= top["confidence"] <= 1
    assert set(triage["indicators"]) >= {"urls", "hosts", "ips", "emails", "cves", "cwes", "cvss"}
    assert triage["indicators"]["cvss"] == [
        {"vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:N/I:L/A:N", "score": 4.3}
    ]
    assert "www.m.io" in triage["in_scope_hosts"]
    assert triage["duplicates"] == []

    table = d.cli("reports", "show", "MIO-2026-0001")
    assert table.returncode == 0, table.stderr
    assert "best_practice" in table.stdout and "www.m.io" in table.stdout

    second = json.loads(d.cli("reports", "show", "MIO-2026-0002", "--format", "json").stdout)
    [dup] = second["triage"]["duplicates"]
    assert dup["ref"] == "MIO-2026-0001" and dup["score"] >= 0.5
    assert "near-duplicate text" in dup["reason"]

    listed = json.loads(
        d.cli("reports", "list", "--hint", "best_practice", "--format", "json").stdout
    )
    assert [r["ref"] for r in listed] == ["MIO-2026-0001", "MIO-2026-0002"]
    assert json.loads(d.cli("reports", "list", "--hint", "dos", "--format", "json").stdout) == []

    # The staff notice starts with the hint, its quote and its policy sentence.
    notice = next(m.message for m in d.sink.messages if list(m.rcpt_tos) == ["lead@m.io"])
    body = notice.get_body(("plain",)).get_content()
    first = body.splitlines()[1]
    assert first.strip().startswith("Possibly out of scope: best_practice")
    assert "(policy: Reports based solely on best practices" in first

    draft = d.cli("reports", "draft", "MIO-2026-0001", "--out-of-scope", "best_practice")
    assert draft.returncode == 0
    assert "Reports based solely on best practices" in draft.stdout
    assert "MIO-2026-0001" in draft.stdout
    # A draft sends and changes nothing.
    assert d.scalar("SELECT status FROM reports WHERE ref = 'MIO-2026-0001'") == "new"
    assert d.scalar("SELECT count(*) FROM outbox WHERE kind = 'draft'") == 0


def test_a_reproduced_in_scope_report_gets_no_hint(make_deployment):
    d = make_deployment()
    body = (
        "IDOR on api.m.io.\n\nSteps to reproduce:\n1. Log in as user A.\n"
        "2. Send this request with user B's invoice id:\n\n"
        "GET /v1/invoices/1002 HTTP/1.1\nHost: api.m.io\n\n"
        "The response returns user B's invoice; I was able to read 20 other invoices.\n"
    )
    d.account.append([simple("IDOR in invoices", body=body)])
    d.run_once()
    shown = json.loads(d.cli("reports", "show", "MIO-2026-0001", "--format", "json").stdout)
    assert shown["triage"]["hints"] == []
    assert shown["triage"]["in_scope_hosts"] == ["api.m.io"]


def test_triage_run_assesses_reports_stored_without(make_deployment):
    d = make_deployment()
    d.account.append([simple("Missing security headers", body=HEADERS)])
    d.run_once()
    with d.store.transaction() as tx:
        from sqlalchemy import text

        for table in ("report_hints", "triage_keys", "report_triage"):
            tx.execute(text(f"DELETE FROM {table}"))
    assert (
        json.loads(d.cli("reports", "show", "MIO-2026-0001", "--format", "json").stdout)["triage"]
        is None
    )
    done = d.cli("triage", "run")
    assert done.returncode == 0 and "best_practice" in done.stdout
    shown = json.loads(d.cli("reports", "show", "MIO-2026-0001", "--format", "json").stdout)
    assert shown["triage"]["hints"][0]["category"] == "best_practice"


def _eval(folder: Path, cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DISCLOSURE_INBOX_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "disclosure_inbox", "triage", "eval"]
        + [str(folder), str(folder / "labels.tsv"), *extra],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=cwd,
    )


@pytest.mark.parametrize("name", ["set", "set2", "set3", "set4"])
def test_triage_eval_on_the_projects_sets_meets_the_targets(tmp_path, name):
    # Four sets by four writers; the rules were written against the first and tuned on
    # the other two as well.
    folder = SET.parent / name
    done = _eval(folder, tmp_path, "--format", "json")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["messages"] >= 60
    assert figures["scope"] == ["m.io", "*.m.io"]
    assert figures["out_of_scope"]["precision"] >= 0.85
    assert figures["out_of_scope"]["recall"] >= 0.70
    assert figures["false_alarm_rate"] <= 0.10
    assert figures["top_right"] >= 0.70


def test_triage_eval_prints_a_table(tmp_path):
    table = _eval(SET, tmp_path)
    assert table.returncode == 0 and "out of scope: precision" in table.stdout
