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
from pathlib import Path
from zoneinfo import ZoneInfo

from disclosure_inbox.testing.dovecot import DovecotError, DovecotServer
from disclosure_inbox.testing.smtp_sink import SmtpSink

MAIL_DIR = Path(__file__).resolve().parent / "mail"
ZONE = ZoneInfo("Europe/Berlin")
# When each sample arrived (its INTERNALDATE, which starts the SLA clock), in hours before
# now, in file order: spread over the last few days, so the promised dates are realistic.
ARRIVED_HOURS_AGO = (76, 52, 49, 38, 20, 9, 5, 2)
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
        ok = run_commands(config)
        show_acknowledgements(sink, workdir / "sent")
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


def run_commands(config: Path) -> bool:
    """Run the CLI as an operator would; True when every command succeeded."""
    script = Path(sys.executable).with_name("disclosure-inbox")
    cli = [str(script)] if script.exists() else [sys.executable, "-m", "disclosure_inbox"]
    env = dict(os.environ, DISCLOSURE_INBOX_CONFIG=str(config))
    print(f"\n$ export DISCLOSURE_INBOX_CONFIG={config}")
    failures = 0

    def run(*args: str) -> str:
        nonlocal failures
        print(f"\n$ disclosure-inbox {' '.join(args)}", flush=True)
        done = subprocess.run(
            [*cli, *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
            check=False,
        )
        print(done.stdout, end="")
        if done.returncode != 0:
            failures += 1
            print(f"(exit status {done.returncode})")
        return done.stdout

    run("db", "upgrade")
    run("run", "--once")
    listed = run("reports", "list")
    if first := re.search(r"\bMIO-\d{4}-\d{4,}\b", listed):
        run("reports", "show", first.group())
    else:
        failures += 1
    run("messages", "list", "--unfiled")
    run("stats")
    return failures == 0


def show_acknowledgements(sink: SmtpSink, keep_dir: Path) -> None:
    mails = sink.messages
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


if __name__ == "__main__":
    sys.exit(main())
