"""The bundled demo: disclosure-inbox's main job, start to finish, on sample mail.

Starts a private Dovecot on a loopback port and an SMTP sink, makes throwaway OpenPGP keys
for the organisation and one researcher, delivers ``demo/mail/*.eml`` and that researcher's
encrypted, signed report to the Dovecot INBOX as if they had arrived over the last few days,
writes a config.toml for all of it, then runs the real command line as an operator would,
printing each command before its output. It shows the acknowledgements that reached the SMTP
sink (what the researchers would receive), the encrypted report read and answered encrypted,
the signed security.txt, and the staff side.

    python demo/run.py [--workdir PATH] [--keep]
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, Message
from email.utils import format_datetime, make_msgid
from pathlib import Path
from zoneinfo import ZoneInfo

from disclosure_inbox.adapters.compose_pgp import encrypted
from disclosure_inbox.adapters.openpgp import OpenPGP
from disclosure_inbox.testing.dovecot import DovecotError, DovecotServer
from disclosure_inbox.testing.openpgp_keys import ThrowawayKey, make_key
from disclosure_inbox.testing.smtp_sink import SmtpSink

MAIL_DIR = Path(__file__).resolve().parent / "mail"
ZONE = ZoneInfo("Europe/Berlin")
# When each sample arrived (its INTERNALDATE, which starts the SLA clock), in hours before
# now, in file order and then the encrypted report: spread over the last few days, so the
# promised dates are realistic.
ARRIVED_HOURS_AGO = (76, 52, 49, 38, 20, 9, 5, 2, 1, 0.5)
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

[openpgp]                      # a throwaway key, made for this run
home = {pgp_home}
passphrase_file = {pgp_passphrase_file}

[security_txt]
expires = {expires}
encryption = "https://m.io/pgp-key.txt"
preferred_languages = ["en", "de"]
canonical = ["https://m.io/.well-known/security.txt"]
"""

# The researcher who encrypts: their key is made at run time, so their report is built then.
NOOR = "Noor Haddad <noor.haddad@example.net>"
NOOR_ADDRESS = "noor.haddad@example.net"
ENCRYPTED_SUBJECT = "Security report (encrypted)"
ENCRYPTED_TEXT = """\
Hello Mio security team,

I found an SQL injection in the invoice export of billing.m.io. The "sort" parameter of
GET /api/v1/invoices/export is put into the ORDER BY clause unquoted:

  1. Log in as any customer and open Invoices > Export.
  2. Request /api/v1/invoices/export?format=csv&sort=(CASE WHEN (SELECT 1)=1 THEN id ELSE date END)
  3. The rows come back ordered by id; with 1=2 they are ordered by date.

With a time-based payload the export answers after exactly the delay asked for, so the
database can be read row by row, other customers' invoices included. I stopped there and
kept no data.

My OpenPGP key is attached: please answer encrypted.

Noor Haddad
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
    # The GnuPG homes get a short path too: gpg-agent's sockets live in them, and a socket's
    # path may not pass 107 bytes.
    pgp_root = Path(tempfile.mkdtemp(prefix="di-demo-pgp-"))
    sink = SmtpSink()
    server: DovecotServer | None = None
    try:
        server = DovecotServer(dovecot_root)
        server.start()
        sink.start()
        print(f"Dovecot (private) on {server.host}:{server.port}, config {server.config_path}")
        print(f"SMTP sink on {sink.host}:{sink.port}")
        keys = Keys.make(pgp_root, workdir)
        mail = [(f.name, f.read_bytes()) for f in sorted(MAIL_DIR.glob("*.eml"))]
        mail.append(("(encrypted, made now)", keys.encrypted_report()))
        deliver(server, mail)
        config = write_config(workdir, server, sink, keys)
        run = Cli(config)
        run_commands(run)
        show_acknowledgements(sink, workdir / "sent")
        openpgp_at_work(sink, run, keys, workdir)
        staff_at_work(server, sink, run)
        ok = run.failures == 0
    except (DovecotError, DemoError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        ok = False
    finally:
        sink.stop()
        if server is not None:
            server.close()
        stop_agents(pgp_root)
        print("\nServers and gpg-agents stopped.")
        if args.keep:
            print(f"Dovecot's configuration, log and mail are kept in {dovecot_root}")
            print(f"The GnuPG homes (Mio's key, the researcher's) are kept in {pgp_root}")
        else:
            shutil.rmtree(dovecot_root, ignore_errors=True)
            shutil.rmtree(pgp_root, ignore_errors=True)
        if args.keep or args.workdir:
            print(
                f"Kept {workdir}: config.toml, the store (var/), the acknowledgements (sent/),"
                " security.txt."
            )
            print("The store can still be read, e.g.:")
            print(f"$ disclosure-inbox --config {workdir / 'config.toml'} reports list")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


class DemoError(Exception):
    """A step of the demo that could not be done (gpg failed, say)."""


def deliver(server: DovecotServer, mail: list[tuple[str, bytes]]) -> None:
    """``mail``: (name, raw bytes) in order of arrival."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    dates = [now - timedelta(hours=h) for h in ARRIVED_HOURS_AGO[: len(mail)]]
    dates += [now] * (len(mail) - len(dates))
    server.append([raw for _, raw in mail], internaldates=dates)
    print(f"\nDelivered {len(mail)} messages to {server.user}'s INBOX (times in {ZONE.key}):")
    for (name, raw), date in zip(mail, dates, strict=True):
        subject = email.message_from_bytes(raw, policy=email.policy.default)
        when = date.astimezone(ZONE).strftime("%a %d %b %H:%M")
        print(f"  {when}  {name:<24} {subject['Subject']}")


def write_config(workdir: Path, server: DovecotServer, sink: SmtpSink, keys: Keys) -> Path:
    def toml(value: object) -> str:  # a TOML basic string or integer
        return json.dumps(value if isinstance(value, int) else str(value))

    # A security.txt must expire within a year (RFC 9116 section 2.5.5): about ten months on.
    expires = (datetime.now(UTC) + timedelta(days=300)).replace(hour=0, minute=0, second=0)
    path = workdir / "config.toml"
    text = CONFIG.format(
        imap_host=toml(server.host),
        imap_port=toml(server.port),
        imap_user=toml(server.user),
        imap_password=toml(server.password),
        storage=toml(workdir / "var"),
        smtp_host=toml(sink.host),
        smtp_port=toml(sink.port),
        pgp_home=toml(keys.org.home),
        pgp_passphrase_file=toml(keys.passphrase_file),
        expires=expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    path.write_text(text, encoding="utf-8")
    return path


class Keys:
    """Throwaway OpenPGP keys: Mio's (with a passphrase, in the configured GnuPG home) and the
    researcher's, who has Mio's public key as a researcher would from its security.txt."""

    def __init__(self, org: ThrowawayKey, researcher: ThrowawayKey, passphrase_file: Path) -> None:
        self.org = org
        self.researcher = researcher
        self.passphrase_file = passphrase_file
        self.researcher_pgp = OpenPGP(researcher.home)

    @classmethod
    def make(cls, root: Path, workdir: Path) -> Keys:
        passphrase = "demo only: " + secrets.token_urlsafe(12)
        passphrase_file = workdir / "openpgp-passphrase"
        passphrase_file.touch(mode=0o600)
        passphrase_file.write_text(passphrase + "\n", encoding="utf-8")
        try:
            org = make_key(root / "mio", "Mio Security <soc@m.io>", passphrase)
            researcher = make_key(root / "noor", NOOR)
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            raise DemoError(f"cannot make the demo's OpenPGP keys with gpg: {exc}") from exc
        keys = cls(org, researcher, passphrase_file)
        keys.researcher_pgp.import_keys(org.public)
        print(f"OpenPGP keys made in {root}:")
        print(f"  Mio Security <soc@m.io>  {org.fingerprint} (the [openpgp] home)")
        print(f"  {NOOR}  {researcher.fingerprint}")
        return keys

    def encrypted_report(self) -> bytes:
        """The researcher's report as their mail program sends it: PGP/MIME, encrypted to
        Mio's key and signed inside, with their public key attached inside the encryption."""
        msg = EmailMessage()
        msg["From"] = NOOR
        msg["To"] = "soc@m.io"
        msg["Subject"] = ENCRYPTED_SUBJECT
        msg["Date"] = format_datetime(datetime.now(UTC))
        msg["Message-ID"] = make_msgid(domain="example.net")
        msg.set_content(ENCRYPTED_TEXT)
        msg.add_attachment(
            self.researcher.public,
            maintype="application",
            subtype="pgp-keys",
            filename="noor-haddad.asc",
        )
        return encrypted(msg, self.researcher_pgp, [self.org.fingerprint], sign=True)


def stop_agents(root: Path) -> None:
    """End every gpg-agent (and any other GnuPG daemon) the demo's homes started."""
    for home in root.iterdir():
        if home.is_dir():
            subprocess.run(
                ["gpgconf", "--homedir", str(home), "--kill", "all"],
                capture_output=True,
                check=False,
                timeout=60,
            )


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

    def __call__(self, *args: str, save: Path | None = None) -> str:
        """The command's output (stdout and stderr, as printed); with ``save``, its stdout
        alone is also written to that file, as ``> FILE`` would."""
        redirect = f" > {save}" if save is not None else ""
        print(f"\n$ disclosure-inbox {' '.join(args)}{redirect}", flush=True)
        done = subprocess.run(
            [*self.command, *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if save is None else subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
        output = done.stdout + (done.stderr or "")
        if save is not None:
            save.write_text(done.stdout, encoding="utf-8")
        print(output, end="")
        if done.returncode != 0:
            self.failures += 1
            print(f"(exit status {done.returncode})")
        return output


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


def plain_text(message: Message) -> str:
    """The text/plain body of ``message``, stripped."""
    body = message.get_body(("plain",)) if isinstance(message, EmailMessage) else None
    return body.get_content().strip() if body is not None else "(no text part)"


def show_acknowledgements(sink: SmtpSink, keep_dir: Path) -> None:
    mails = [m for m in sink.messages if ".ack." in (m.message["Message-ID"] or "")]
    print(f"\n== What the researchers received: {len(mails)} acknowledgements at the SMTP sink ==")
    keep_dir.mkdir(exist_ok=True)
    for number, mail in enumerate(mails, 1):
        (keep_dir / f"{number:02d}.eml").write_bytes(mail.raw)
        message = mail.message
        print(f"\nTo:      {', '.join(mail.rcpt_tos)}")
        print(f"Subject: {message['Subject']}")
        if message.get_content_type() == "multipart/encrypted":
            print("  | (encrypted to the researcher's key: read below how it was sent)")
            continue
        for line in plain_text(message).splitlines()[:ACK_LINES]:
            print(f"  | {line}".rstrip())
        print("  | ...")


def openpgp_at_work(sink: SmtpSink, run: Cli, keys: Keys, workdir: Path) -> None:
    """The encrypted report: decrypted at intake, its signature checked and the researcher's
    key kept; the acknowledgement encrypted to that key and signed; then the security.txt
    that tells researchers where Mio's key is, signed with it, and checked."""
    print(f"\n== OpenPGP: {NOOR_ADDRESS} sent the report encrypted and signed ==")
    acks = [m for m in sink.messages if list(m.rcpt_tos) == [NOOR_ADDRESS]]
    ref = re.search(r"MIO-\d{4}-\d{4,}", acks[0].message["Subject"] or "") if acks else None
    if ref is None:
        print(f"demo: no acknowledgement reached {NOOR_ADDRESS}", file=sys.stderr)
        run.failures += 1
        return
    run("reports", "show", ref.group())
    mail = acks[0].message
    print(f"\n== What {NOOR_ADDRESS} received: the acknowledgement, as it crossed the network ==")
    print(f"\nTo:           {', '.join(acks[0].rcpt_tos)}")
    print(f"Subject:      {mail['Subject']}")
    print(f"Content-Type: {mail.get_content_type()}; protocol={mail.get_param('protocol')}")
    # RFC 3156 section 4: a "Version: 1" part, then the armored OpenPGP message.
    armored = b""
    for part in mail.iter_parts():
        if part.get_content_type() == "application/octet-stream":
            armored = part.get_content()
    for line in armored.decode("ascii", "replace").strip().splitlines()[:4]:
        print(f"  | {line}")
    print("  | ...")
    opened = keys.researcher_pgp.decrypt(armored)
    if opened.plaintext is None:
        print(f"demo: the acknowledgement does not decrypt: {opened.failure}", file=sys.stderr)
        run.failures += 1
        return
    signature = opened.signature
    signed_by = f"{signature.status}, by {signature.fingerprint}" if signature else "none"
    if signature is not None and signature.fingerprint == keys.org.fingerprint:
        signed_by += " (Mio's key)"
    print(f"\nDecrypted with {NOOR_ADDRESS}'s key; signature: {signed_by}")
    inner = email.message_from_bytes(opened.plaintext, policy=email.policy.default)
    for line in plain_text(inner).splitlines()[:ACK_LINES]:
        print(f"  | {line}".rstrip())
    print("  | ...")

    print("\n== security.txt, signed with Mio's key, and checked as a researcher's tool would ==")
    security_txt = workdir / "security.txt"
    run("security-txt", "--sign", save=security_txt)
    run("security-txt", "--check", str(security_txt), "--format", "json")


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
    for line in plain_text(notice).splitlines()[:STAFF_LINES]:
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
    for line in plain_text(reply).splitlines():
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
        for line in plain_text(message).splitlines()[:12]:
            print(f"  | {line}".rstrip())
    ref = re.search(r"MIO-\d{4}-\d{4,}", notice["Subject"] or "")
    if ref:
        run("reports", "show", ref.group())


if __name__ == "__main__":
    sys.exit(main())
