"""Broken templates: refused before they are used (start-up, reload, check-config), and one
that fails on some message's data never keeps that message, or any other, out of the store."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from disclosure_inbox.adapters.db.store import Store
from disclosure_inbox.adapters.render import SAMPLES, Rendered, Renderer
from disclosure_inbox.paths import templates_dir
from disclosure_inbox.service.alerts import Alerts
from disclosure_inbox.service.app import run_cycle
from disclosure_inbox.testing.mailgen import simple

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
# Fails only on a message whose subject is "boom": passes every check, then fails at run time.
BOOM = "{% if subject == 'boom' %}\n{{ no_such_variable }}\n{% endif %}"


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@SQLITE
def test_check_config_and_run_refuse_a_broken_template(make_deployment, tmp_path):
    templates = tmp_path / "templates"
    path = write(templates, "reporter/ack.txt.j2", "Hello,\n\n{{ no_such_variable }}\n")
    d = make_deployment(templates={"dir": str(templates)})
    for args in (["check-config"], ["run", "--once"]):
        done = d.cli(*args)
        assert done.returncode == 2, done.stderr
        assert f"template {path}, line 3: 'no_such_variable' is undefined" in one_error_line(done)

    # A syntax error: check-config used to call this valid while run refused it.
    path.write_text("Hello,\n{{ ref }\n")
    done = d.cli("check-config")
    assert done.returncode == 2
    assert f"template {path}, line 2: syntax error" in one_error_line(done)

    # Every locale present and the HTML twin count, not only the configured locale's text.
    path.write_text("Hello {{ ref }}\n")
    german = write(templates, "reporter/ack.de.html.j2", "<p>{{ ref }}</p>\n<p>{{ nope }}</p>\n")
    done = d.cli("check-config")
    assert done.returncode == 2
    assert f"template {german}, line 2: 'nope' is undefined" in one_error_line(done)

    german.unlink()
    assert d.cli("check-config").returncode == 0
    assert d.account.append([simple("after the fix")])
    assert d.cli("run", "--once").returncode == 0
    assert d.sink.messages[0].message.get_body(("plain",)).get_content() == "Hello MIO-2026-0001\n"


@SQLITE
def test_a_templates_dir_that_does_not_exist_is_a_configuration_error(make_deployment, tmp_path):
    d = make_deployment()
    missing = tmp_path / "no-such-templates"
    with d.config_path.open("a") as config:
        config.write(f'\n[templates]\ndir = "{missing}"\n')
    for args in (["check-config"], ["run", "--once"]):
        done = d.cli(*args)
        assert done.returncode == 2
        assert f"templates.dir: {missing} is not a directory" in one_error_line(done)


def test_an_acknowledgement_whose_template_fails_is_parked_and_the_report_stored(
    make_deployment, tmp_path
):
    templates = tmp_path / "templates"
    bundled = (templates_dir() / "reporter" / "ack.txt.j2").read_text()
    path = write(templates, "reporter/ack.txt.j2", BOOM + bundled)
    d = make_deployment(templates={"dir": str(templates)})
    d.account.append(
        [
            simple("first"),
            simple("boom", sender="Bob <bob@example.net>", message_id="<boom@example.net>"),
            simple("third", sender="Carol <carol@example.com>"),
        ]
    )
    result = d.run_once()
    assert result.errors == []
    assert d.counts()["reports"] == 3
    assert sorted(m.rcpt_tos[0] for m in d.sink.messages) == [
        "ada@example.org",
        "carol@example.com",
    ]
    [(row_id, to, error)] = d.rows(
        "SELECT id, to_address, last_error FROM outbox WHERE state = 'failed'"
    )
    assert to == "bob@example.net"
    assert f"{path}, line 2: 'no_such_variable' is undefined" in error
    assert d.counts()["outbox_failed"] == 1  # what /metrics counts as _acks_failed_total
    [(detail,)] = d.rows("SELECT detail FROM audit WHERE action = 'ack-template-failed'")
    assert "no_such_variable" in str(detail)
    # The report keeps its deadline like any other.
    assert d.scalar("SELECT count(*) FROM clocks WHERE name = 'acknowledgement'") == 3

    # Staff read the error and send it anyway: in the bundled wording.
    assert d.cli("outbox", "retry", str(row_id)).returncode == 0
    d.clock.set(datetime.now(UTC) + timedelta(seconds=1))
    d.run_once()
    [sent] = [m for m in d.sink.messages if m.rcpt_tos[0] == "bob@example.net"]
    assert sent.message["In-Reply-To"] == "<boom@example.net>"
    text = sent.message.get_body(("plain",)).get_content()
    assert "Thank you for your report to Mio" in text and "MIO-2026-0002" in text


def test_a_staff_template_failing_on_one_report_does_not_hold_back_the_others(
    make_deployment, tmp_path
):
    templates = tmp_path / "templates"
    path = write(
        templates,
        "staff/escalation.txt.j2",
        BOOM.replace("subject", "items[0].subject") + "{{ items[0].ref }}: custom\n",
    )
    d = make_deployment(templates={"dir": str(templates)}, escalation={"digest": False})
    wednesday = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    d.account.append(
        [simple("boom"), simple("fine", sender="Carol <carol@example.com>")],
        internaldates=[wednesday, wednesday],
    )
    d.run_once()
    d.clock.set(datetime(2026, 7, 9, 0, 5, tzinfo=UTC))  # both overdue since Wed 23:59:59
    result = d.run_once()
    assert result.errors == []
    staff = {
        m.message["Subject"].split("]")[0]: m.message.get_body(("plain",)).get_content()
        for m in d.sink.messages
        if "lead@m.io" in m.rcpt_tos
    }
    assert staff["[MIO-2026-0002"] == "MIO-2026-0002: custom\n"
    boom = staff["[MIO-2026-0001"]
    assert boom.startswith(
        f"[Your template failed, so this is the bundled one: {path}, line 2: "
        "'no_such_variable' is undefined]"
    )
    assert "MIO-2026-0001 needs attention: overdue" in boom
    assert d.scalar("SELECT count(*) FROM escalations") == 2


# --- the samples are the contexts the service really builds --------------------------------


class RecordingRenderer(Renderer):
    """The real renderer, remembering every context it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.contexts: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)

    def render(
        self, audience: str, event: str, context: dict[str, Any], locale: str | None = None
    ) -> Rendered:
        self.contexts[(audience, event)].append(context)
        return super().render(audience, event, context, locale)


def shape(value: Any) -> Any:
    """The keys, all the way down; a list by the keys of its elements, which must agree."""
    if isinstance(value, Mapping):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        shapes = [shape(item) for item in value]
        assert all(s == shapes[0] for s in shapes), shapes
        return ["list of", shapes[0] if shapes else None]
    return None


def agree(a: Any, b: Any) -> bool:
    """Two shapes agree; an empty list agrees with any list."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(agree(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return a[1] is None or b[1] is None or agree(a[1], b[1])
    return a == b


@SQLITE
def test_sample_contexts_have_exactly_the_keys_of_the_real_ones(make_deployment):
    """Adding a key to a real context (or dropping one) without the samples fails here."""
    d = make_deployment(staff={"notify": True, "token_secret": "k" * 32})
    recorder = RecordingRenderer()
    two_id = "<two@example.net>"
    monday, tuesday = (datetime(2026, 6, day, 10, 0, tzinfo=UTC) for day in (29, 30))
    d.account.append(
        [
            simple("one", message_id="<one@example.org>"),
            simple("two", sender="B <b@example.net>", message_id=two_id),
            simple("three"),
            simple("Re: one", headers={"In-Reply-To": "<one@example.org>"}),  # a follow-up
        ],
        internaldates=[monday, tuesday, tuesday, tuesday],
    )
    app = d.app()
    app.renderer = recorder
    run_cycle(app)  # the acknowledgements
    # A staff member answers one report, with a command: the relay and the command result.
    notice = next(
        m.message
        for m in d.sink.messages
        if list(m.rcpt_tos) == ["lead@m.io"] and m.message["Subject"].endswith("three")
    )
    d.account.append(
        [
            simple(
                "Re: three",
                "We can reproduce it.\n/needs-info\n/draft out-of-scope best_practice\n",
                sender="Lead <lead@m.io>",
                to=notice["Reply-To"],
                headers={"In-Reply-To": notice["Message-ID"]},
            ),
            # The reporter of "two" asks where it stands.
            simple(
                "Re: two",
                "status",
                sender="B <b@example.net>",
                headers={"In-Reply-To": two_id},
            ),
        ],
        internaldates=[tuesday, tuesday],
    )
    run_cycle(app)
    d.clock.set(datetime(2026, 7, 4, 12, 0, tzinfo=UTC))  # one report due soon: one mail
    run_cycle(app)
    d.clock.set(datetime(2026, 7, 8, 1, 0, tzinfo=UTC))  # several due at once: a digest
    run_cycle(app)

    # The alerts, as housekeeping raises them.
    alerts = Alerts(d.settings, app.store, recorder)
    since = d.clock.now()
    d.clock.advance(seconds=d.settings.daemon.alert_after_seconds + 1)
    assert alerts.intake_failing(d.clock.now(), None, since, "connection refused")
    with app.store.transaction() as session:
        Store.audit(session, d.clock.now(), "ack-template-failed", error="line 2: boom")
    assert alerts.templates_failing(d.clock.now())

    assert set(recorder.contexts) == set(SAMPLES)
    for template, contexts in recorder.contexts.items():
        for sample in SAMPLES[template]:
            for context in contexts:
                assert agree(shape(context), shape(sample)), template


# --- reload ------------------------------------------------------------------------------


@SQLITE
@pytest.mark.slow
def test_reload_with_a_broken_template_keeps_the_running_ones(make_deployment, tmp_path):
    templates = tmp_path / "templates"
    path = write(templates, "reporter/ack.txt.j2", "Checked {{ ref }}.\n")
    d = make_deployment(
        templates={"dir": str(templates)},
        daemon={"outbox_interval_seconds": 1, "backoff_max_seconds": 2, "poll_interval_seconds": 2},
    )
    log_path = tmp_path / "daemon.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "disclosure_inbox", "--config", str(d.config_path), "run"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ),
        )
    try:
        wait_for_log(log_path, "disclosure-inbox running")
        path.write_text("Hello,\n\n{{ no_such_variable }}\n")
        proc.send_signal(signal.SIGHUP)
        wait_for_log(
            log_path,
            re.escape(
                "configuration reload failed, keeping the running one: "
                f"template {path}, line 3: 'no_such_variable' is undefined"
            ),
        )
        d.account.append([simple("after the reload")])
        [mail] = d.sink.wait_for(1, timeout=30)
        assert mail.message.get_body(("plain",)).get_content() == "Checked MIO-2026-0001.\n"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_for_log(path: Path, pattern: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not re.search(pattern, path.read_text(errors="replace")):
        if time.monotonic() > deadline:
            raise AssertionError(f"no log line {pattern!r}:\n{path.read_text(errors='replace')}")
        time.sleep(0.05)


@SQLITE
def test_staff_are_alerted_once_when_acknowledgements_are_parked(make_deployment, tmp_path):
    templates = tmp_path / "templates"
    bundled = (templates_dir() / "reporter" / "ack.txt.j2").read_text()
    path = write(templates, "reporter/ack.txt.j2", BOOM + bundled)
    d = make_deployment(
        templates={"dir": str(templates)},
        daemon={
            "outbox_interval_seconds": 1,
            "backoff_max_seconds": 2,
            "poll_interval_seconds": 1,
            "leader_check_seconds": 1,
        },
    )
    log_path = tmp_path / "daemon.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "disclosure_inbox", "--config", str(d.config_path), "run"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ),
        )
    try:
        wait_for_log(log_path, "disclosure-inbox running")
        d.account.append([simple("boom", sender="Bob <bob@example.net>")])
        [alert] = d.sink.wait_for(1, timeout=30)
        assert list(alert.rcpt_tos) == ["lead@m.io"]
        assert alert.message["Subject"] == "[Mio] disclosure-inbox: a template is failing"
        text = alert.message.get_body(("plain",)).get_content()
        assert f"{path}, line 2: 'no_such_variable' is undefined" in text
        assert "Acknowledgements affected:  1" in text
        # Another failure within alert_repeat_seconds: parked too, but no second alert.
        d.account.append([simple("boom", sender="Eve <eve@example.net>")])
        wait_for_log(log_path, "eve@example.net parked as failed")
        time.sleep(3)  # further housekeeping rounds
        assert [m.message["Subject"] for m in d.sink.messages] == [alert.message["Subject"]]
        assert d.counts()["outbox_failed"] == 2
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
