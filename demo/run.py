"""The bundled demo: disclosure-inbox's main job, start to finish, on sample mail.

Starts a private Dovecot on a loopback port and an SMTP sink, delivers ``demo/mail/*.eml``
to the Dovecot INBOX as if they had arrived over the last few days, writes a config.toml for
both, then runs the real command line as an operator would, printing each command before its
output. Last, it shows the acknowledgements that reached the SMTP sink: what the researchers
would receive.

    python demo/run.py [--workdir PATH] [--keep]
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from zoneinfo import ZoneInfo

from disclosure_inbox.testing.dovecot import DovecotError, DovecotServer
from disclosure_inbox.testing.smtp_sink import SmtpSink

MAIL_DIR = Path(__file__).resolve().parent / "mail"
ZONE = ZoneInfo("Europe/Berlin")
# When each sample arrived (its INTERNALDATE, which starts the SLA clock), in hours before
# now, in file order: spread over the last few days, so the promised dates are realistic.
ARRIVED_HOURS_AGO = (76, 52, 49, 38, 20, 9, 5, 2, 1)
ACK_LINES = 10  # lines of each acknowledgement shown: up to the promised response date

CONFIG = """\
# disclosure-inbox configuration for the bundled demo, written by demo/run.py.

[organization]
name = "Mio"
reference_prefix = "MIO"
policy_url = "https://m.io/disclosure"
mailbox_address = "soc@m.io"
staff_addresses = ["security-lead@m.io"]
timezone = "Europe/Berlin"

[calendar]
country = "DE"                 # German public holidays are not business days

[imap]                         # the demo's private Dovecot
host = {imap_host}
port = {imap_port}
username = {imap_user}
password = {imap_password}
tls = "none"                   # plain text is acceptable on the loopback interface only
timeout_seconds = 10

[storage]
dir = {storage}                # the SQLite store, raw messages and attachments

[staff]                        # staff are told of each report and answer by mail
token_secret = "demo-only-key: make your own with head -c 32 /dev/urandom | base64"

[smtp]                         # the demo's SMTP sink
host = {smtp_host}
port = {smtp_port}
tls = "none"
from_name = "Mio Security"
timeout_seconds = 10
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Runs disclosure-inbox on the bundled demo mail.")
    parser.add_argument(
        "--workdir", metavar="PATH", help="a new or empty directory to work in (then kept)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the working directory and Dovecot's files"
    )
    args = parser.parse_args(argv)
    if args.workdir:
        workdir = Path(args.workdir).resolve()
        if workdir.exists() and any(workdir.iterdir()):
            parser.error(f"--workdir {workdir} is not empty")
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        workdir = Path(tempfile.mkdtemp(prefix="disclosure-inbox-demo-"))
    # Dovecot's mail user must be able to reach its files, so they go in a directory of
    # their own under /tmp rather than in a working directory that may be private.
    dovecot_root = Path(tempfile.mkdtemp(prefix="di-demo-dovecot-"))
    sink = SmtpSink()
    server: DovecotServer | None = None
    try:
        server = DovecotServer(dovecot_root)
        server.start()
        sink.start()
        print(f"Dovecot (private) on {server.host}:{server.port}, config {server.config_path}")
        print(f"SMTP sink on {sink.host}:{sink.port}")
        deliver(server)
        config = write_config(workdir, server, sink)
        run = Cli(config)
        run_commands(run)
        show_acknowledgements(sink, workdir / "sent")
        staff_at_work(server, sink, run)
        ok = run.failures == 0
    except DovecotError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        ok = False
    finally:
        sink.stop()
        if server is not None:
            server.close()
        print("\nServers stopped.")
        if args.keep:
            print(f"Dovecot's configuration, log and mail are kept in {dovecot_root}")
        else:
            shutil.rmtree(dovecot_root, ignore_errors=True)
        if args.keep or args.workdir:
            print(f"Kept {workdir}: config.toml, the store (var/), the acknowledgements (sent/).")
            print("The store can still be read, e.g.:")
            print(f"$ disclosure-inbox --config {workdir / 'config.toml'} reports list")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


def deliver(server: DovecotServer) -> None:
    files = sorted(MAIL_DIR.glob("*.eml"))
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    dates = [now - timedelta(hours=h) for h in ARRIVED_HOURS_AGO[: len(files)]]
    dates += [now] * (len(files) - len(dates))
    server.append([f.read_bytes() for f in files], internaldates=dates)
    print(f"\nDelivered {len(files)} messages to {server.user}'s INBOX (times in {ZONE.key}):")
    for path, date in zip(files, dates, strict=True):
        subject = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        when = date.astimezone(ZONE).strftime("%a %d %b %H:%M")
        print(f"  {when}  {path.name:<24} {subject['Subject']}")


def write_config(workdir: Path, server: DovecotServer, sink: SmtpSink) -> Path:
    def toml(value: object) -> str:  # a TOML basic string or integer
        return json.dumps(value if isinstance(value, int) else str(value))

    path = workdir / "config.toml"
    text = CONFIG.format(
        imap_host=toml(server.host),
        imap_port=toml(server.port),
        imap_user=toml(server.user),
        imap_password=toml(server.password),
        storage=toml(workdir / "var"),
        smtp_host=toml(sink.host),
        smtp_port=toml(sink.port),
    )
    path.write_text(text, encoding="utf-8")
    return path


class Cli:
    """The real command line, run as an operator would, each command printed first."""

    def __init__(self, config: Path) -> None:
        script = Path(sys.executable).with_name("disclosure-inbox")
        self.command = (
            [str(script)] if script.exists() else [sys.executable, "-m", "disclosure_inbox"]
        )
        self.env = dict(os.environ, DISCLOSURE_INBOX_CONFIG=str(config))
        self.failures = 0
        print(f"\n$ export DISCLOSURE_INBOX_CONFIG={config}")

    def __call__(self, *args: str) -> str:
        print(f"\n$ disclosure-inbox {' '.join(args)}", flush=True)
        done = subprocess.run(
            [*self.command, *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
            check=False,
        )
        print(done.stdout, end="")
        if done.returncode != 0:
            self.failures += 1
            print(f"(exit status {done.returncode})")
        return done.stdout


def run_commands(run: Cli) -> None:
    run("db", "upgrade")
    run("run", "--once")
    listed = run("reports", "list")
    if first := re.search(r"\bMIO-\d{4}-\d{4,}\b", listed):
        run("reports", "show", first.group())
    else:
        run.failures += 1
    run("messages", "list", "--unfiled")
    run("stats")
    triage(run)


def triage(run: Cli) -> None:
    """The hints: the reports triage thinks may be out of scope, one of them in full with
    its quote and policy sentence, the reply drafted for a person to edit, and the hints
    measured on the project's own labelled set."""
    print("\n== Triage hints (nothing is decided or sent because of them) ==")
    hinted = run("reports", "list", "--hint", "best_practice")
    if found := re.search(r"\bMIO-\d{4}-\d{4,}\b", hinted):
        run("reports", "show", found.group())
        run("reports", "draft", found.group(), "--out-of-scope", "best_practice")
    else:
        run.failures += 1
    labelled = Path(__file__).resolve().parents[1] / "tests" / "triage" / "set"
    if labelled.is_dir():
        run("triage", "eval", str(labelled), str(labelled / "labels.tsv"))


def show_acknowledgements(sink: SmtpSink, keep_dir: Path) -> None:
    mails = [m for m in sink.messages if ".ack." in (m.message["Message-ID"] or "")]
    print(f"\n== What the researchers received: {len(mails)} acknowledgements at the SMTP sink ==")
    keep_dir.mkdir(exist_ok=True)
    for number, mail in enumerate(mails, 1):
        (keep_dir / f"{number:02d}.eml").write_bytes(mail.raw)
        message = mail.message
        body = message.get_body(("plain",))
        text = body.get_content() if body is not None else "(no text part)"
        print(f"\nTo:      {', '.join(mail.rcpt_tos)}")
        print(f"Subject: {message['Subject']}")
        for line in text.strip().splitlines()[:ACK_LINES]:
            print(f"  | {line}".rstrip())
        print("  | ...")


STAFF = "security-lead@m.io"
STAFF_LINES = 24  # lines of the staff notice shown


def staff_at_work(server: DovecotServer, sink: SmtpSink, run: Cli) -> None:
    """The staff member's side: the notice of the first report, their reply with a command,
    and what it did (the researcher's answer, the stopped and started clocks)."""
    notices = [m for m in sink.messages if list(m.rcpt_tos) == [STAFF]]
    if not notices:
        print("demo: no staff notice arrived", file=sys.stderr)
        run.failures += 1
        return
    notice = notices[0].message
    print(f"\n== The staff side: {len(notices)} notices in {STAFF}'s mailbox; the first ==")
    print(f"Subject:  {notice['Subject']}")
    print(f"Reply-To: {notice['Reply-To']}")
    for line in notice.get_body(("plain",)).get_content().strip().splitlines()[:STAFF_LINES]:
        print(f"  | {line}".rstrip())
    print("  | ...")
    reply = EmailMessage()
    reply["From"] = f"Security Lead <{STAFF}>"
    reply["To"] = notice["Reply-To"]
    reply["Subject"] = f"Re: {notice['Subject']}"
    reply["In-Reply-To"] = notice["Message-ID"]
    reply["References"] = notice["Message-ID"]
    reply["Message-ID"] = make_msgid(domain="m.io")
    reply.set_content(
        "Hello Priya,\n\nthank you for the clear report. We can reproduce the stored XSS and\n"
        "are working on a fix; we will write again when it is deployed.\n\n"
        "/verify critical\n\n"
        f"On {notice['Date']}, disclosure-inbox wrote:\n> New report ...\n"
    )
    print(f"\n{STAFF} replies (the /verify line is a command, the quote stays behind):")
    for line in reply.get_body(("plain",)).get_content().strip().splitlines():
        print(f"  > {line}".rstrip())
    before = len(sink.messages)
    server.append([reply.as_bytes()])
    run("run", "--once")
    print(
        "\n== What that reply did: the researcher's answer, and the result in the staff thread =="
    )
    for mail in sink.messages[before:]:
        message = mail.message
        print(f"\nTo:      {', '.join(mail.rcpt_tos)}")
        print(f"Subject: {message['Subject']}")
        for line in message.get_body(("plain",)).get_content().strip().splitlines()[:12]:
            print(f"  | {line}".rstrip())
    ref = re.search(r"MIO-\d{4}-\d{4,}", notice["Subject"] or "")
    if ref:
        run("reports", "show", ref.group())


if __name__ == "__main__":
    sys.exit(main())
