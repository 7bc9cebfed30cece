"""The SMTP sender against a real SMTP server (aiosmtpd): how long it waits for a reply."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time

import pytest

from disclosure_inbox.adapters.smtp import SmtpSender
from disclosure_inbox.config import Smtp
from disclosure_inbox.domain.errors import SendDeferred
from disclosure_inbox.testing.smtp_sink import SmtpSink

RAW = (
    b"From: soc@m.io\r\nTo: ada@example.org\r\nSubject: ack\r\nMessage-ID: <1@m.io>\r\n"
    b"\r\nThanks\r\n"
)


def _settings(sink: SmtpSink, timeout: float) -> Smtp:
    return Smtp(
        host=sink.host, port=sink.port, tls="none", timeout_seconds=timeout, lease_seconds=30
    )


async def _send(settings: Smtp) -> str:
    async with SmtpSender(settings) as sender:
        return await sender.send("soc@m.io", ["ada@example.org"], RAW)


CHILD = """
import asyncio, sys
from disclosure_inbox.adapters.smtp import SmtpSender
from disclosure_inbox.config import Smtp
from disclosure_inbox.domain.errors import SendDeferred

async def main():
    settings = Smtp(host=sys.argv[1], port=int(sys.argv[2]), tls="none",
                    timeout_seconds=1.0, lease_seconds=30)
    async with SmtpSender(settings) as sender:
        await sender.send("soc@m.io", ["ada@example.org"], b"Subject: warm-up\\r\\n\\r\\nx\\r\\n")
        print("sending", flush=True)
        try:
            print(await sender.send("soc@m.io", ["ada@example.org"], sys.stdin.buffer.read()))
        except SendDeferred as exc:
            print("deferred:", exc)

asyncio.run(main())
"""


def test_a_sender_stopped_past_its_timeout_reads_the_reply_that_waited(smtp_sink: SmtpSink):
    # The sender is stopped (SIGSTOP) while it waits for the reply to its message, for longer
    # than its 1 s timeout, and then continued. The server answered meanwhile: the message was
    # delivered, and calling it deferred would send it a second time. On resuming, a plain
    # timeout fires before the waiting reply is read (epoll returns nothing once its time is
    # up), so the test needs a real stop of a real process.
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, smtp_sink.host, str(smtp_sink.port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=False,
    )
    try:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(RAW)
        child.stdin.close()
        smtp_sink.wait_for(1, timeout=30)
        smtp_sink.delay_seconds = 0.6
        assert child.stdout.readline() == b"sending\n"
        time.sleep(0.3)  # the message is written; the server takes 0.6 s to answer
        child.send_signal(signal.SIGSTOP)
        time.sleep(2.5)
        child.send_signal(signal.SIGCONT)
        out = child.stdout.read().decode()
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert "deferred" not in out
    assert out.startswith("2") or "OK" in out
    assert len(smtp_sink.wait_for(2, timeout=5)) == 2


def test_a_server_that_does_not_answer_still_times_out(smtp_sink: SmtpSink):
    smtp_sink.delay_seconds = 5.0
    started = time.monotonic()
    with pytest.raises(SendDeferred, match="Timed out"):
        asyncio.run(_send(_settings(smtp_sink, 0.6)))
    assert time.monotonic() - started < 3
