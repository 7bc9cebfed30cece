"""The bundled demo (demo/run.py) runs start to finish and leaves nothing running."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from disclosure_inbox.testing.dovecot import dovecot_installed

DEMO = Path(__file__).resolve().parents[2] / "demo" / "run.py"
# The senders of demo/mail: people get a report and an acknowledgement; machines (an
# out-of-office reply, a bounce, a newsletter) answer nothing in the store, so their mail is
# unfiled: no report, no reference, no acknowledgement. The follow-up is Priya's second
# message. Noor's report is the one the demo encrypts and signs with keys it makes.
NOOR = "noor.haddad@example.net"
PEOPLE = {
    "priya.raman@example.org",
    "lukas@example.net",
    "chen.wei@example.com",
    "juergen.hoffmann@example.net",
    "sam.okafor@example.org",
    NOOR,
}
# Each machine, with the loop rule that makes its mail unfiled.
MACHINE_RULES = {
    "tomas.ferreira@example.net": "auto-submitted",
    "mailer-daemon@mx.example.com": "mailer-daemon",
    "hello@news.example.com": "precedence",
}
MACHINES = set(MACHINE_RULES)


def _section(output: str, start: str) -> str:
    """The output from the line ``start`` to the next command or heading."""
    text = output.split(start + "\n", 1)[1]
    return re.split(r"^(?:\$ |== )", text, maxsplit=1, flags=re.MULTILINE)[0]


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if text.encode() in cmdline:
                found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_demo_acknowledges_the_people_only_and_stops_its_servers(tmp_path: Path) -> None:
    if not DEMO.exists():
        pytest.skip(f"{DEMO} is not in this checkout")
    if os.environ.get("DISCLOSURE_INBOX_SKIP_DOVECOT", "") == "1":
        pytest.skip("DISCLOSURE_INBOX_SKIP_DOVECOT=1")
    if not dovecot_installed():
        pytest.fail("the demo needs Dovecot: run scripts/setup", pytrace=False)
    workdir = tmp_path / "demo"

    done = subprocess.run(
        [sys.executable, str(DEMO), "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout
    assert done.returncode == 0, output + done.stderr

    # The store the demo left behind, read with the real command.
    def cli_json(*args: str) -> Any:
        done = subprocess.run(
            [sys.executable, "-m", "disclosure_inbox", "--config", str(workdir / "config.toml")]
            + [*args, "--format", "json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return json.loads(done.stdout)

    ref_of = {r["reporter"]: r["ref"] for r in cli_json("reports", "list")}
    assert set(ref_of) == PEOPLE  # the follow-up joined Priya's report; machines have none
    unfiled = {m["sender"]: m["rule"] for m in cli_json("messages", "list", "--unfiled")}
    assert unfiled == MACHINE_RULES

    # The demo shows the unfiled machine mail, each with its rule, and no person's mail.
    shown_unfiled = _section(output, "$ disclosure-inbox messages list --unfiled")
    for machine, rule in MACHINE_RULES.items():
        assert re.search(rf"\b{re.escape(machine)}\s+{rule}\b", shown_unfiled), machine
    assert not any(person in shown_unfiled for person in PEOPLE)
    assert re.search(r"^unfiled\s+3$", _section(output, "$ disclosure-inbox stats"), re.MULTILINE)

    # Every report is in the printed list, each person's under their own reference.
    table = _section(output, "$ disclosure-inbox reports list")
    for reporter, ref in ref_of.items():
        assert re.search(rf"^{ref}\b.*\b{re.escape(reporter)}\b", table, re.MULTILINE), reporter
    assert f"$ disclosure-inbox reports show {ref_of['priya.raman@example.org']}" in output

    # The acknowledgement summary: one per person, tagged with their reference, none to a machine.
    summary = output.split("== What the researchers received", 1)[1].split("\n== ", 1)[0]
    shown = dict(re.findall(r"^To: +(\S+)\nSubject: \[(MIO-\d{4}-\d{4,})\]", summary, re.M))
    assert shown == {person: ref_of[person] for person in PEOPLE}
    assert not any(machine in summary for machine in MACHINES)
    sent = [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted((workdir / "sent").glob("*.eml"))
    ]
    assert sorted(str(m["To"]) for m in sent) == sorted(PEOPLE)

    # OpenPGP: Noor's report was decrypted at intake and its signature checked; the answer was
    # encrypted to Noor's key and signed with Mio's; the signed security.txt passes its check.
    [mio_key] = re.findall(r"^  Mio Security <soc@m\.io>  ([0-9A-F]{40}) ", output, re.M)
    [noor_key] = re.findall(rf"^  Noor Haddad <{re.escape(NOOR)}>  ([0-9A-F]{{40}})$", output, re.M)
    noor = ref_of[NOOR]
    stored = [m for m in cli_json("reports", "show", noor)["messages"] if m["sender"] == NOOR]
    assert [(m["encryption"], m["signature"]) for m in stored] == [
        ("decrypted", {"fingerprint": noor_key, "status": "valid"})
    ]
    shown_noor = _section(output, f"$ disclosure-inbox reports show {noor}")
    assert re.search(
        rf"\binbound +report +{re.escape(NOOR)}\b.* decrypted +valid {noor_key}$", shown_noor, re.M
    )
    assert "I found an SQL injection in the invoice export" in shown_noor
    [to_noor] = [m for m in sent if str(m["To"]) == NOOR]
    assert to_noor.get_content_type() == "multipart/encrypted"
    assert "Thank you for your report" not in to_noor.as_string()
    received = output.split(f"== What {NOOR} received", 1)[1].split("\n== ", 1)[0]
    assert "Content-Type: multipart/encrypted; protocol=application/pgp-encrypted" in received
    assert f"signature: valid, by {mio_key} (Mio's key)" in received
    assert "Thank you for your report to Mio." in received
    security_txt = (workdir / "security.txt").read_text(encoding="utf-8")
    assert security_txt.startswith("-----BEGIN PGP SIGNED MESSAGE-----")
    assert "\nContact: mailto:soc@m.io\n" in security_txt
    [check] = [line for line in output.splitlines() if "security-txt --check" in line]
    checked = json.loads(_section(output, check))
    assert checked["signature"] == {"status": "valid", "fingerprint": mio_key}
    assert checked["problems"] == 0

    # The staff side: the notice of Priya's report, the lead's reply with /verify critical,
    # the answer Priya got (no staff address in it), and the clocks it stopped and started.
    priya = ref_of["priya.raman@example.org"]
    staff = output.split("== The staff side", 1)[1]
    assert f"Subject:  [{priya}] New report: Stored XSS" in staff
    assert "Reply-To: soc+" in staff
    did = staff.split("== What that reply did", 1)[1]
    answer = did.split("\nTo:      priya.raman@example.org\n", 1)[1].split("\nTo: ", 1)[0]
    assert "We can reproduce the stored XSS" in answer and "security-lead" not in answer
    assert "/verify critical: triaged -> verified (severity critical)" in did
    shown_report = did.split(f"$ disclosure-inbox reports show {priya}", 1)[1]
    assert re.search(r"^status +verified$", shown_report, re.MULTILINE)
    assert re.search(r"^acknowledgement .* met$", shown_report, re.MULTILINE)
    assert re.search(r"^resolution .* running$", shown_report, re.MULTILINE)

    # Nothing left running: no Dovecot on the demo's configuration, no gpg-agent on its GnuPG
    # homes, nothing on its ports.
    [config] = re.findall(r"^Dovecot .* config (\S+)$", output, re.MULTILINE)
    assert _processes_mentioning(config) == []
    assert not Path(config).exists()  # its files are removed without --keep
    [homes] = re.findall(r"^OpenPGP keys made in (\S+):$", output, re.MULTILINE)
    assert _processes_mentioning(homes) == []
    assert not Path(homes).exists()
    for port in re.findall(r"on 127\.0\.0\.1:(\d+)", output):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", int(port)), timeout=2).close()
