"""Deterministic, realistic inbound mail for tests, the demo and the benchmark.

``generate(n, seed)`` gives the same messages for the same arguments: plain reports in several
charsets, multipart/alternative, HTML-only, reports with attachments (a tail of large ones),
replies to earlier messages, auto-replies and bounces.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

_FINDINGS = [
    "Stored XSS in the profile page",
    "IDOR on /api/v2/invoices/{id}",
    "SQL injection in the search endpoint",
    "Open redirect on the login page",
    "SSRF through the avatar URL fetcher",
    "Subdomain takeover of status.example",
    "Password reset token does not expire",
    "Rapport de vulnérabilité : contournement d'authentification",
    "Sicherheitslücke: Umgehung der Zugriffskontrolle",
    "脆弱性の報告：認証の回避",
    "Уязвимость: раскрытие информации",
]
_NAMES = ["Ada Researcher", "Jean Dupont", "Jürgen Müller", "山田 太郎", "Иван Петров", "Sam Lee"]
_CHARSETS = ["utf-8", "utf-8", "utf-8", "iso-8859-1", "iso-8859-15", "koi8-r", "shift_jis"]


@dataclass(frozen=True)
class Generated:
    raw: bytes
    kind: str  # report | reply | auto-reply | bounce
    message_id: str
    sender: str
    internaldate: datetime


def _body(rng: random.Random, finding: str, size: int) -> str:
    steps = "\n".join(
        f"{i}. Step {i}: request {rng.randrange(10**6)} returned data." for i in range(1, 6)
    )
    para = (
        f"Hello,\n\nI found a security issue: {finding}.\n\nSteps to reproduce:\n{steps}\n\n"
        "Impact: an attacker can read other users' data.\n\n"
    )
    filler = "Proof of concept output follows.\n" + "A" * 64 + "\n"
    body = para
    while len(body) < size:
        body += filler
    return body + "\nRegards\n"


def _charset_ok(text: str, charset: str) -> bool:
    try:
        text.encode(charset)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _bounce(mid: str, sender: str, to: str, when: datetime) -> bytes:
    """An RFC 3464 delivery status notification, as an MTA writes it."""
    return (
        f"From: Mail Delivery System <{sender}>\r\nTo: {to}\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: {mid}\r\n"
        f"Date: {format_datetime(when)}\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient: rfc822; x@example.net\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n\r\n--b1--\r\n"
    ).encode()


def generate(
    n: int,
    seed: int = 1,
    *,
    domain: str = "example.org",
    to: str = "soc@example.com",
    start: datetime | None = None,
    large_every: int = 200,
    large_bytes: int = 2_000_000,
) -> Iterator[Generated]:
    rng = random.Random(seed)
    start = start or datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    sent: list[tuple[str, str, str]] = []  # (message_id, sender, subject) of reports
    for i in range(n):
        when = start + timedelta(minutes=7 * i)
        roll = rng.random()
        msg = EmailMessage()
        name = rng.choice(_NAMES)
        sender = f"researcher{rng.randrange(max(2, n // 3))}@{domain}"
        mid = make_msgid(idstring=f"g{seed}-{i}", domain=domain)
        msg["Message-ID"] = mid
        msg["Date"] = format_datetime(when)
        msg["To"] = to
        finding = rng.choice(_FINDINGS)
        if roll < 0.04:
            kind = "auto-reply"
            msg["From"] = f"{name} <{sender}>"
            msg["Subject"] = "Out of office"
            msg["Auto-Submitted"] = "auto-replied"
            msg.set_content("I am out of the office until Monday.\n")
        elif roll < 0.07:
            kind = "bounce"
            sender = f"MAILER-DAEMON@{domain}"
            yield Generated(_bounce(mid, sender, to, when), kind, mid, sender, when)
            continue
        elif roll < 0.22 and sent:
            kind = "reply"
            parent_id, sender, subject = rng.choice(sent)
            msg["From"] = f"{name} <{sender}>"
            msg["Subject"] = f"Re: {subject}"
            msg["In-Reply-To"] = parent_id
            msg["References"] = parent_id
            msg.set_content(_body(rng, "More details on my report", 1500))
        else:
            kind = "report"
            msg["From"] = f"{name} <{sender}>"
            msg["Subject"] = finding
            size = int(rng.lognormvariate(8.9, 0.5))  # median around 7-8 KB
            text = _body(rng, finding, size)
            charset = rng.choice(_CHARSETS)
            if not _charset_ok(text, charset):
                charset = "utf-8"
            style = rng.random()
            if style < 0.15:
                html = "<html><body><p>" + text.replace("\n", "<br>\n") + "</p></body></html>"
                msg.set_content(html, subtype="html", charset=charset)
            else:
                msg.set_content(text, charset=charset)
                if style < 0.45:
                    msg.add_alternative(
                        "<html><body><pre>" + text + "</pre></body></html>",
                        subtype="html",
                        charset=charset,
                    )
            if large_every and i % large_every == large_every - 1:
                msg.add_attachment(
                    rng.randbytes(large_bytes),
                    maintype="application",
                    subtype="octet-stream",
                    filename="capture.pcap",
                )
            elif rng.random() < 0.1:
                msg.add_attachment(
                    rng.randbytes(rng.randrange(2000, 60000)),
                    maintype="image",
                    subtype="png",
                    filename="screenshot.png",
                )
            sent.append((mid, sender, finding))
        yield Generated(msg.as_bytes(policy=SMTP), kind, mid, sender, when)


def simple(
    subject: str,
    body: str = "Details of the finding.\n",
    *,
    sender: str = "Ada Researcher <ada@example.org>",
    to: str = "soc@example.com",
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """One plain message; extra headers are set verbatim."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or make_msgid(domain="example.org")
    msg["Date"] = format_datetime(datetime(2026, 7, 1, 14, 0, tzinfo=UTC))
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    return msg.as_bytes(policy=SMTP)


def raw(headers: list[tuple[str, str]], body: str = "Details.\r\n") -> bytes:
    """A message written byte for byte, for input the standard library refuses to build."""
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    return (head + "\r\n" + body).encode("utf-8", "surrogateescape")
