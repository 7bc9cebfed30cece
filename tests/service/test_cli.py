"""The command line as a user meets it: exit codes, error lines, configuration, secrets, output
formats and logs. Every command runs as a real subprocess against real servers.

Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error. An error is one line
on stderr without a traceback; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from disclosure_inbox.testing.mailgen import generate, simple

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
TRACEBACK = "Traceback (most recent call last)"
REF = re.compile(r"\bMIO-\d{4}-\d{4}\b")
MESSAGE_ID = re.compile(r"<[^<>\s]+@[^<>\s]+>")
REPORTS_SHOW_KEYS = {
    "ref",
    "status",
    "severity",
    "reporter",
    "reporter_name",
    "subject",
    "received_at",
    "messages",
    "clocks",
    "attachments",
}
STATS_KEYS = {
    "messages",
    "reports",
    "followups",
    "quarantined",
    "unfiled",
    "outbox_pending",
    "outbox_sent",
    "outbox_failed",
    "acks_suppressed",
}
# The loggers of the steps that handle one message at a time.
MAIL_LOGGERS = {
    "disclosure_inbox.adapters.parse",
    "disclosure_inbox.service.intake",
    "disclosure_inbox.service.acks",
    "disclosure_inbox.service.outbox",
}
ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d$")
JULY_1 = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


def cli(*args: str, env: dict[str, str] | None = None, config: Path | None = None):
    """The real command; ``config`` goes in DISCLOSURE_INBOX_CONFIG, which is otherwise unset."""
    environment = {k: v for k, v in os.environ.items() if k != "DISCLOSURE_INBOX_CONFIG"}
    if config is not None:
        environment["DISCLOSURE_INBOX_CONFIG"] = str(config)
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "disclosure_inbox", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def toml_text(data: dict[str, dict[str, Any]]) -> str:
    # JSON strings, numbers, booleans and arrays of them are valid TOML values.
    out = []
    for section, values in data.items():
        out.append(f"[{section}]")
        out += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
        out.append("")
    return "\n".join(out)


def variant(d, path: Path, **changes: dict[str, Any]) -> Path:
    """A copy of the deployment's configuration with keys changed (None removes a key)."""
    data = tomllib.loads(d.config_path.read_text())
    for section, values in changes.items():
        target = data.setdefault(section, {})
        for key, value in values.items():
            if value is None:
                target.pop(key, None)
            else:
                target[key] = value
    path.write_text(toml_text(data))
    return path


def assert_one_error_line(done, code: int, *needles: str) -> str:
    """Exit ``code``; the error is the last stderr line, the only one naming an error, and
    no traceback. Returns that line."""
    assert done.returncode == code, (done.stdout, done.stderr)
    assert TRACEBACK not in done.stderr
    # With --log-format json the same line arrives as the message of a JSON record.
    lines = [
        json.loads(line)["message"] if line.startswith("{") else line
        for line in done.stderr.strip().splitlines()
    ]
    errors = [line for line in lines if line.startswith("disclosure-inbox: ")]
    assert len(errors) == 1, done.stderr
    assert lines[-1] == errors[0]
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def json_records(stderr: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


# --- exit codes ------------------------------------------------------------------------------


@SQLITE
def test_usage_errors_exit_2_with_one_line(deployment):
    deployment.account.append([simple("one")], internaldates=[JULY_1])
    assert deployment.cli("run", "--once").returncode == 0

    unknown = deployment.cli("reports", "show", "MIO-2026-9999")
    assert_one_error_line(unknown, 2, "MIO-2026-9999")
    assert unknown.stdout == ""
    assert_one_error_line(deployment.cli("reports", "list", "--status", "bogus"), 2, "bogus")
    assert_one_error_line(
        deployment.cli("reports", "list", "--due-before", "next tuesday"), 2, "next tuesday"
    )
    illegal = deployment.cli("reports", "set", "MIO-2026-0001", "--status", "resolved")
    assert_one_error_line(illegal, 2, "cannot move from new to resolved")
    assert_one_error_line(deployment.cli("outbox", "retry", "999"), 2, "999")

    assert deployment.cli("--version").returncode == 0


ARGUMENT_ERRORS = [
    pytest.param([], "COMMAND", id="no-command"),
    pytest.param(["reports", "frobnicate"], "frobnicate", id="unknown-subcommand"),
    pytest.param(["--log-format", "xml", "stats"], "xml", id="bad-choice"),
    pytest.param(["reports", "set"], "ref, --status", id="missing-arguments"),
    pytest.param(["stats", "--bogus"], "--bogus", id="unknown-option"),
    pytest.param(["db"], "db_command", id="no-subcommand"),
    pytest.param(["outbox", "retry", "abc"], "abc", id="not-a-number"),
    pytest.param(["stats", "--bo\ngus"], "--bo\\ngus", id="newline-in-a-value"),
    pytest.param(["sla", "due", "--at", "next tuesday"], "next tuesday", id="not-a-date"),
    # Out of range: these ended in OverflowError (exit 1) from the database or the clock maths.
    pytest.param(
        ["sla", "due", "--at", "9999-12-31T23:59:59+14:00"], "out of range", id="at-overflow"
    ),
    pytest.param(
        ["reports", "list", "--due-before", "9999-12-31T23:59:59-12:00"],
        "out of range",
        id="due-before-overflow",
    ),
    pytest.param(
        ["reports", "list", "--due-before", "0001-01-01T00:00:00+14:00"],
        "out of range",
        id="due-before-underflow",
    ),
    pytest.param(["outbox", "retry", "99999999999999999999"], "out of range", id="id-overflow"),
    pytest.param(["outbox", "retry", "2147483648"], "out of range", id="id-over-int32"),
    pytest.param(["outbox", "retry", "0"], "out of range", id="id-zero"),
]


@SQLITE
@pytest.mark.parametrize(("args", "needle"), ARGUMENT_ERRORS)
def test_every_argument_error_is_one_line_with_exit_2(deployment, args, needle):
    done = deployment.cli(*args)
    line = assert_one_error_line(done, 2, needle)
    assert done.stderr == line + "\n", done.stderr  # no usage text around it
    assert line.startswith("disclosure-inbox: error: ")
    assert re.search(r"\(see disclosure-inbox( [a-z-]+)* --help\)$", line), line
    assert done.stdout == ""


@SQLITE
def test_date_times_and_ids_inside_the_range_still_work(deployment):
    for args in (
        ["reports", "list", "--due-before", "8999-12-31T23:59:59-12:00"],
        ["reports", "list", "--due-before", "1900-01-01T00:00:00+14:00"],
    ):
        done = deployment.cli(*args, "--format", "json")
        assert done.returncode == 0, (args, done.stderr)
        assert json.loads(done.stdout) == []
    assert_one_error_line(deployment.cli("outbox", "retry", "2147483647"), 2, "no outbox message")
    help_text = deployment.cli("reports", "set", "--help")
    assert help_text.returncode == 0 and "--duplicate-of" in help_text.stdout


@SQLITE
def test_an_option_for_another_status_is_refused_and_changes_nothing(deployment):
    deployment.account.append([simple("one"), simple("two")], internaldates=[JULY_1] * 2)
    assert deployment.cli("run", "--once").returncode == 0
    done = deployment.cli(
        "reports", "set", "MIO-2026-0002", "--status", "triaged", "--duplicate-of", "MIO-2026-0001"
    )
    assert_one_error_line(done, 2, "--duplicate-of", "--status duplicate")
    assert done.stderr.count("\n") == 1
    assert deployment.rows(
        "SELECT status, duplicate_of_id FROM reports WHERE ref = 'MIO-2026-0002'"
    ) == [("new", None)]
    assert deployment.scalar("SELECT count(*) FROM audit WHERE action = 'status-changed'") == 0
    ok = deployment.cli(
        "reports",
        "set",
        "MIO-2026-0002",
        "--status",
        "duplicate",
        "--duplicate-of",
        "MIO-2026-0001",
    )
    assert ok.returncode == 0, ok.stderr


@SQLITE
def test_runtime_failure_exits_1_and_debug_adds_the_traceback(make_deployment):
    d = make_deployment(imap={"port": 1})  # nothing listens there
    plain = d.cli("check-config", "--connect")
    line = assert_one_error_line(plain, 1, "cannot connect to IMAP 127.0.0.1:1")
    assert line.startswith("disclosure-inbox: error: ")

    debug = d.cli("--debug", "check-config", "--connect")
    assert debug.returncode == 1
    assert TRACEBACK in debug.stderr
    assert "MailboxUnavailable" in debug.stderr

    once = d.cli("run", "--once")
    assert once.returncode == 1
    assert TRACEBACK not in once.stderr
    assert "cannot connect to IMAP 127.0.0.1:1" in once.stderr


def run_once_with_one_report(d) -> subprocess.CompletedProcess[str]:
    """One report and its acknowledgement; the only mail (no escalation: the CLI runs on the
    real clock, long after July)."""
    d.account.append([simple("needs an answer")], internaldates=[JULY_1])
    done = d.cli("run", "--once")
    assert TRACEBACK not in done.stderr
    assert d.counts()["reports"] == 1  # taken in whatever the SMTP server does
    return done


@SQLITE
def test_run_once_exits_1_while_the_smtp_server_is_down(make_deployment):
    deployment = make_deployment(escalation={"tiers": []})
    deployment.sink.stop()
    done = run_once_with_one_report(deployment)
    assert done.returncode == 1, done.stderr
    assert "outbox: 0 sent, 1 deferred, 0 failed" in done.stderr
    assert deployment.counts()["outbox_pending"] == 1


@SQLITE
def test_run_once_exits_1_when_the_smtp_server_defers(make_deployment):
    deployment = make_deployment(escalation={"tiers": []})
    deployment.sink.fail_next(1, 451, "Greylisted, try again later")
    done = run_once_with_one_report(deployment)
    assert done.returncode == 1, done.stderr
    assert "1 deferred" in done.stderr


@SQLITE
def test_run_once_exits_0_when_the_smtp_server_refuses_a_message_for_good(make_deployment):
    # The server is up and answered: the message is parked for a person, not a server down.
    deployment = make_deployment(escalation={"tiers": []})
    deployment.sink.reject_next(1, 550, "No such user")
    done = run_once_with_one_report(deployment)
    assert done.returncode == 0, done.stderr
    assert "outbox: 0 sent, 0 deferred, 1 failed" in done.stderr
    assert deployment.counts()["outbox_failed"] == 1


@SQLITE
def test_a_closed_pipe_is_a_quiet_exit(deployment):
    deployment.account.append([simple("one")], internaldates=[JULY_1])
    assert deployment.cli("run", "--once").returncode == 0
    env = dict(os.environ, DISCLOSURE_INBOX_CONFIG=str(deployment.config_path))
    message_id = deployment.scalar("SELECT message_id FROM messages WHERE direction = 'inbound'")
    for args in (
        ["reports", "show", "MIO-2026-0001"],
        ["reports", "show", "MIO-2026-0001", "--raw", message_id],
        ["reports", "list", "--format", "json"],
        ["db", "current"],
    ):
        # `| head` that has read enough: the reading end is closed before anything is written.
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            done = subprocess.run(
                [sys.executable, "-m", "disclosure_inbox", *args],
                env=env,
                stdout=write_end,
                stderr=subprocess.PIPE,
                text=True,
                timeout=120,
                check=False,
            )
        finally:
            os.close(write_end)
        assert (done.returncode, done.stderr) == (0, ""), args


# --- configuration ---------------------------------------------------------------------------

CONFIG_ERRORS = [
    pytest.param({"imap": {"port": "nine-nine-three"}}, "imap.port", id="wrong-type"),
    pytest.param(
        {"smtp": {"retry_deadline_hours": [1, 2]}}, "smtp.retry_deadline_hours", id="list"
    ),
    pytest.param({"imap": {"pasword": "typo"}}, "imap.pasword", id="unknown-key"),
    pytest.param({"limits": {"acks_per_day": 3}}, "limits.acks_per_day", id="unknown-key-2"),
    pytest.param({"organization": {"name": None}}, "organization.name", id="missing-key"),
    pytest.param({"imap": {"host": None}}, "imap.host", id="missing-key-2"),
    pytest.param(
        {"organization": {"timezone": "Mars/Olympus_Mons"}},
        "organization.timezone",
        id="bad-time-zone",
    ),
    pytest.param({"calendar": {"country": "XX"}}, "calendar.country", id="unknown-holiday-country"),
    pytest.param(
        {"calendar": {"country": "US", "subdivision": "ZZ"}},
        "calendar.subdivision",
        id="unknown-subdivision",
    ),
    pytest.param({"database": {"url": "garbage"}}, "database.url", id="not-a-database-url"),
    pytest.param(
        {"database": {"url": "mysql://soc:pw@127.0.0.1/db"}}, "database.url", id="no-such-driver"
    ),
    pytest.param(
        {"database": {"url": "postgresql://soc@127.0.0.1/db"}},
        "database.url",
        id="postgresql-without-psycopg",
    ),
]


@SQLITE
@pytest.mark.parametrize(("changes", "key"), CONFIG_ERRORS)
def test_invalid_configuration_exits_2_and_names_the_key(deployment, tmp_path, changes, key):
    bad = variant(deployment, tmp_path / "bad.toml", **changes)
    for args in (["check-config"], ["--debug", "run", "--once"], ["stats"]):
        done = cli(*args, config=bad)
        line = assert_one_error_line(done, 2, "configuration error")
        assert re.search(rf"configuration error: {re.escape(key)}\b", line), line
    assert deployment.counts()["messages"] == 0


@SQLITE
def test_a_bad_database_url_is_named_without_its_password(deployment, tmp_path):
    for i, url in enumerate(
        ("postgresql+psycopg://soc:db-Secret-9@host:no-port/db", "mysql://soc:db-Secret-9@h/db")
    ):
        config = variant(deployment, tmp_path / f"u{i}.toml", database={"url": url})
        for args in (["check-config"], ["--debug", "check-config"], ["db", "upgrade"]):
            done = cli(*args, config=config)
            assert_one_error_line(done, 2, "configuration error: database.url: ")
            assert "db-Secret-9" not in done.stdout + done.stderr


@SQLITE
def test_unreadable_or_missing_configuration_exits_2(deployment, tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("[imap\nhost = ")
    assert_one_error_line(cli("check-config", config=broken), 2, "not valid TOML")
    assert_one_error_line(cli("check-config", config=tmp_path / "absent.toml"), 2, "absent.toml")
    assert_one_error_line(cli("stats"), 2, "--config", "DISCLOSURE_INBOX_CONFIG")


@SQLITE
def test_config_option_wins_over_the_environment(deployment, tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("not toml at all [")
    from_env = cli("check-config", config=deployment.config_path)
    assert from_env.returncode == 0, from_env.stderr
    assert str(deployment.config_path) in from_env.stderr

    explicit = cli("--config", str(deployment.config_path), "check-config", config=broken)
    assert explicit.returncode == 0, explicit.stderr
    assert str(deployment.config_path) in explicit.stderr
    assert_one_error_line(cli("check-config", config=broken), 2, str(broken))


# --- secrets ---------------------------------------------------------------------------------


def secret_sources(d, tmp_path: Path) -> dict[str, tuple[Path, dict[str, str]]]:
    password = d.account.password
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "imap-password").write_text(password + "\n")
    no_password = {"password": None}
    return {
        "password": (d.config_path, {}),
        "password_env": (
            variant(d, tmp_path / "env.toml", imap={**no_password, "password_env": "DI_IMAP_PW"}),
            {"DI_IMAP_PW": password},
        ),
        "password_file": (
            variant(
                d,
                tmp_path / "file.toml",
                imap={**no_password, "password_file": str(tmp_path / "creds" / "imap-password")},
            ),
            {},
        ),
        "password_file-with-variable": (
            variant(
                d,
                tmp_path / "var.toml",
                imap={**no_password, "password_file": "${CREDENTIALS_DIRECTORY}/imap-password"},
            ),
            {"CREDENTIALS_DIRECTORY": str(tmp_path / "creds")},
        ),
    }


@SQLITE
def test_every_secret_source_logs_in_and_the_password_never_shows(deployment, tmp_path):
    d = deployment
    secret = d.account.password
    d.account.append(
        [simple("first"), simple("second", sender="Bob <bob@example.org>")],
        internaldates=[JULY_1, JULY_1],
    )
    outputs = [cli("check-config", "--connect", config=d.config_path)]
    for name, (config, env) in secret_sources(d, tmp_path).items():
        for flags in (["--debug"], ["--debug", "--log-format", "json"]):
            done = cli(*flags, "check-config", "--connect", config=config, env=env)
            assert done.returncode == 0, (name, flags, done.stderr)
            assert f"IMAP 127.0.0.1:{d.account.port} mailbox INBOX: ok" in done.stderr
            outputs.append(done)
        once = cli("--debug", "--log-format", "json", "run", "--once", config=config, env=env)
        assert once.returncode == 0, (name, once.stderr)
        outputs.append(once)
    assert d.counts()["reports"] == 2
    for done in outputs:
        assert secret not in done.stdout + done.stderr


def smtp_login_config(d, tmp_path: Path, secret: str) -> Path:
    # The sink offers no AUTH, so the login fails and the acknowledgement waits.
    return variant(d, tmp_path / "smtp.toml", smtp={"username": "soc", "password": secret})


@SQLITE
def test_the_smtp_password_never_shows(deployment, tmp_path):
    secret = "smtp-Secret-4711-never-printed"
    config = smtp_login_config(deployment, tmp_path, secret)
    deployment.account.append([simple("needs an answer")], internaldates=[JULY_1])
    for flags in ([], ["--debug"], ["--debug", "--log-format", "json"]):
        done = cli(*flags, "run", "--once", config=config)
        assert done.returncode in (0, 1)
        assert secret not in done.stdout + done.stderr
    assert deployment.counts()["outbox_pending"] >= 1


@SQLITE
def test_an_smtp_login_failure_is_not_reported_as_a_starttls_failure(deployment, tmp_path):
    config = smtp_login_config(deployment, tmp_path, "whatever-password")
    deployment.account.append([simple("needs an answer")], internaldates=[JULY_1])
    done = cli("run", "--once", config=config)
    assert TRACEBACK not in done.stderr
    assert "STARTTLS" not in done.stderr.replace("(or STARTTLS)", "")
    assert "AUTH" in done.stderr


@SQLITE
def test_a_wrong_password_fails_with_one_clear_line_and_is_not_shown(deployment, tmp_path):
    wrong = "Wr0ng-" + deployment.account.password[::-1]
    config = variant(deployment, tmp_path / "wrong.toml", imap={"password": wrong})
    for flags in ([], ["--log-format", "json"]):
        done = cli(*flags, "check-config", "--connect", config=config)
        assert_one_error_line(done, 1, f"IMAP login to 127.0.0.1 as {deployment.account.user}")
        assert wrong not in done.stdout + done.stderr
    debug = cli("--debug", "--log-format", "json", "run", "--once", config=config)
    assert debug.returncode == 1
    assert wrong not in debug.stdout + debug.stderr
    assert deployment.account.password not in debug.stdout + debug.stderr


@SQLITE
def test_secret_misconfiguration_exits_2(deployment, tmp_path):
    cases = [
        ({"password_env": "DI_NOT_SET_ANYWHERE"}, "imap.password_env"),
        ({"password": None, "password_env": "DI_NOT_SET_ANYWHERE"}, "imap.password_env"),
        ({"password": None, "password_file": "${DI_NOT_SET_DIR}/pw"}, "imap.password_file"),
        ({"password": None, "password_file": str(tmp_path / "missing")}, "imap.password_file"),
    ]
    for i, (imap, key) in enumerate(cases):
        config = variant(deployment, tmp_path / f"s{i}.toml", imap=imap)
        done = cli("check-config", config=config)
        assert_one_error_line(done, 2, "configuration error")
        assert key in done.stderr or "imap: give only one" in done.stderr
        assert deployment.account.password not in done.stderr


# --- the database ----------------------------------------------------------------------------


@SQLITE
def test_database_unreachable_exits_1(deployment, tmp_path):
    url = "postgresql+psycopg://postgres:db-pass-Xq7@127.0.0.1:1/nothing"
    config = variant(deployment, tmp_path / "nodb.toml", database={"url": url})
    for args in (["check-config", "--connect"], ["run", "--once"], ["stats"]):
        done = cli(*args, config=config)
        assert_one_error_line(done, 1)
        assert "db-pass-Xq7" not in done.stdout + done.stderr
        debug = cli("--debug", *args, config=config)
        assert debug.returncode == 1 and TRACEBACK in debug.stderr
        assert "db-pass-Xq7" not in debug.stdout + debug.stderr
    assert cli("check-config", config=config).returncode == 0  # no connection asked for


@SQLITE
def test_schema_must_be_upgraded_first_and_upgrade_is_idempotent(deployment, tmp_path):
    fresh = f"sqlite:///{tmp_path / 'fresh' / 'store.sqlite3'}"
    config = variant(deployment, tmp_path / "fresh.toml", database={"url": fresh})
    deployment.account.append([simple("waiting")], internaldates=[JULY_1])

    for args in (["run", "--once"], ["reports", "list"], ["check-config", "--connect"]):
        done = cli(*args, config=config)
        assert_one_error_line(done, 1, "disclosure-inbox db upgrade")
    assert deployment.account.fetch_flags()[1] == ()  # nothing was taken in

    for _ in range(2):
        upgraded = cli("db", "upgrade", config=config)
        assert upgraded.returncode == 0, upgraded.stderr
        assert TRACEBACK not in upgraded.stderr
    current = cli("db", "current", config=config)
    assert current.returncode == 0
    assert current.stdout.strip() == deployment.scalar("SELECT version_num FROM alembic_version")
    assert cli("run", "--once", config=config).returncode == 0
    assert cli("stats", "--format", "json", config=config).returncode == 0


# --- output formats --------------------------------------------------------------------------


@pytest.fixture
def populated(make_deployment):
    """A Berlin deployment with a report that has an attachment, a follow-up and a sent
    acknowledgement, an out-of-office reply and a second report from staff (no
    acknowledgement). The out-of-office reply threads into no report, so it is machine mail
    left unfiled, not a report; staff mail is a person's, so it makes the second report."""
    # No escalation tiers: the CLI runs on the real clock, long after these deadlines.
    d = make_deployment(organization={"timezone": "Europe/Berlin"}, escalation={"tiers": []})
    [with_attachment] = generate(1, seed=3, large_every=1, large_bytes=5000)
    report = with_attachment.raw
    reply = simple(
        "Re: more",
        sender=f"Ada <{with_attachment.sender}>",
        message_id="<reply@example.org>",
        headers={"In-Reply-To": with_attachment.message_id},
    )
    robot = simple("Out of office", headers={"Auto-Submitted": "auto-replied"})
    staff = simple("Forwarded finding", sender="Lead <lead@m.io>")
    d.account.append([report, reply, robot, staff], internaldates=[JULY_1] * 4)
    assert d.cli("run", "--once").returncode == 0
    return d, with_attachment.sender


def test_json_output_has_the_documented_keys(populated):
    d, reporter = populated
    listed = d.cli("reports", "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    reports = json.loads(listed.stdout)
    assert [r["ref"] for r in reports] == ["MIO-2026-0001", "MIO-2026-0002"]
    for r in reports:
        assert {"ref", "status", "severity", "reporter", "received_at", "subject"} <= set(r)
        assert r["received_at"] == "2026-07-01T14:00:00+02:00"

    shown = d.cli("reports", "show", "MIO-2026-0001", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    assert set(report) >= REPORTS_SHOW_KEYS
    assert report["reporter"] == reporter
    assert ISO_WITH_OFFSET.match(report["received_at"])
    assert report["received_at"].endswith("+02:00")
    directions = [m["direction"] for m in report["messages"]]
    assert sorted(directions) == ["inbound", "inbound", "outbound"]
    for m in report["messages"]:
        assert {"message_id", "received_at", "direction", "author", "body_text"} <= set(m)
        assert ISO_WITH_OFFSET.match(m["received_at"])
    [att] = report["attachments"]
    assert set(att) >= {"filename", "content_type", "size", "sha256"}
    assert (att["filename"], att["size"]) == ("capture.pcap", 5000)
    assert re.fullmatch(r"[0-9a-f]{64}", att["sha256"])
    [clock] = report["clocks"]
    assert set(clock) >= {"name", "started_at", "due_at", "stopped_at", "state"}
    assert clock["name"] == "acknowledgement"
    assert clock["due_at"] == "2026-07-08T23:59:59+02:00"
    assert clock["stopped_at"] is None
    assert clock["state"]

    stats = d.cli("stats", "--format", "json")
    assert json.loads(stats.stdout) == {
        "messages": 4,
        "reports": 2,
        "followups": 1,
        "quarantined": 0,
        "unfiled": 1,
        "outbox_pending": 0,
        "outbox_sent": 1,
        "outbox_failed": 0,
        "acks_suppressed": 1,
    }
    assert set(json.loads(stats.stdout)) == STATS_KEYS

    outbox = json.loads(d.cli("outbox", "list", "--format", "json").stdout)
    [row] = outbox
    assert (row["state"], row["kind"], row["report"]) == ("sent", "ack", "MIO-2026-0001")
    assert row["to"] == reporter
    assert json.loads(d.cli("sla", "due", "--format", "json").stdout) == []
    assert json.loads(d.cli("outbox", "list", "--state", "failed", "--format", "json").stdout) == []


def test_table_output_is_readable_text(populated):
    d, _reporter = populated
    listed = d.cli("reports", "list")
    assert listed.returncode == 0
    header, *rows = listed.stdout.splitlines()
    assert header.split() == [
        "REF",
        "STATUS",
        "SEVERITY",
        "REPORTER",
        "RECEIVED_AT",
        "SUBJECT",
        "HINTS",
    ]
    assert [r.split()[0] for r in rows] == ["MIO-2026-0001", "MIO-2026-0002"]

    shown = d.cli("reports", "show", "MIO-2026-0001", "--format", "table").stdout
    assert re.search(r"^ref\s+MIO-2026-0001$", shown, re.MULTILINE)
    assert re.search(r"^received_at\s+2026-07-01T14:00:00\+02:00$", shown, re.MULTILINE)
    for section in ("messages:", "clocks:", "attachments:"):
        assert f"\n{section}\n" in shown
    assert "capture.pcap" in shown

    stats = d.cli("stats").stdout
    assert re.search(r"^reports\s+2$", stats, re.MULTILINE)
    assert re.search(r"^acks_suppressed\s+1$", stats, re.MULTILINE)
    assert re.search(r"^unfiled\s+1$", stats, re.MULTILINE)
    assert "MIO-2026-0001" in d.cli("outbox", "list").stdout
    assert d.cli("outbox", "list", "--state", "failed").stdout == "(none)\n"
    assert "{" not in listed.stdout and TRACEBACK not in listed.stderr


@SQLITE
def test_table_output_carries_no_terminal_control_characters(deployment):
    hostile = (
        b"From: Eve <eve@example.org>\r\nMessage-ID: <esc@example.org>\r\n"
        b"Subject: fine\x1b]0;owned\x07\x1b[2J\x1b[1;31mRED\x08\x08\r\n\r\nbody\r\n"
    )
    deployment.account.append([hostile], internaldates=[JULY_1])
    assert deployment.cli("run", "--once").returncode == 0
    for args in (["reports", "list"], ["reports", "show", "MIO-2026-0001"], ["outbox", "list"]):
        out = deployment.cli(*args).stdout
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", out), (args, out)


# --- logs ------------------------------------------------------------------------------------


def mixed_mailbox(d) -> None:
    report = simple("Report", message_id="<r1@example.org>")
    followup = simple(
        "Re: Report", message_id="<r2@example.org>", headers={"In-Reply-To": "<r1@example.org>"}
    )
    robot = simple(
        "Auto", sender="Bot <bot@example.org>", headers={"Auto-Submitted": "auto-replied"}
    )
    big = simple("Too big", sender="Big <big@example.org>", body="X" * 6000)
    d.account.append([report, followup, robot, big, report], internaldates=[JULY_1] * 5)


def test_json_log_lines_name_the_message_or_report(make_deployment):
    d = make_deployment(storage={"max_message_bytes": 4096})
    mixed_mailbox(d)
    done = d.cli("--log-format", "json", "run", "--once")
    assert done.returncode == 0, done.stderr
    records = json_records(done.stderr)
    assert records
    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record)
        assert datetime.fromisoformat(record["time"]).tzinfo is not None
    about_mail = [r for r in records if r["logger"] in MAIL_LOGGERS]
    # Stored, threaded, suppressed, quarantined, duplicate, sent: each said with an identity.
    assert len(about_mail) >= 6, records
    for record in about_mail:
        assert REF.search(record["message"]) or MESSAGE_ID.search(record["message"]), record


def test_json_log_format_writes_only_json_to_stderr(make_deployment):
    d = make_deployment(storage={"max_message_bytes": 4096})
    mixed_mailbox(d)
    done = d.cli("--log-format", "json", "run", "--once")
    assert done.returncode == 0
    for line in done.stderr.splitlines():
        assert isinstance(json.loads(line), dict), line


@SQLITE
def test_the_parser_fallback_log_line_names_the_message(deployment):
    broken_attachment = (
        b"From: Ada <ada@example.org>\r\nSubject: pdf\r\nMessage-ID: <fallback@example.org>\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b'--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="x.pdf"'
        b"\r\nContent-Transfer-Encoding: base64\r\n\r\nQUJD!!!=\r\nZ\r\n--b--\r\n"
    )
    deployment.account.append([broken_attachment], internaldates=[JULY_1])
    done = deployment.cli("--log-format", "json", "run", "--once")
    assert done.returncode == 0
    [fallback] = [r for r in json_records(done.stderr) if "mail-parser failed" in r["message"]]
    assert "<fallback@example.org>" in fallback["message"]
