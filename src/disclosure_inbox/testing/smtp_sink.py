"""An SMTP server on 127.0.0.1 that keeps what it accepts, for tests and the demo.

`SmtpSink` runs aiosmtpd's `Controller` in its own thread. Every message it accepts is kept
with its envelope; `wait_for` blocks until a number of them have arrived. `fail_next` and
`reject_next` make the server answer the next messages' DATA with a chosen 4xx or 5xx reply:
the client gets a real SMTP reply over the socket, as from a real relay having a bad day.

The port is chosen once, so `stop()` followed by `start()` brings the server back on the same
address (an outage, as the sender sees it); what was received stays. `delay_seconds` makes
every reply to DATA come that much later, as from a slow relay.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from functools import cached_property
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller

HOST = "127.0.0.1"


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the server saw it: envelope, raw bytes and the reply it gave."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    received_at: datetime
    reply: str = "250 OK"

    @cached_property
    def message(self) -> EmailMessage:
        """The message parsed with the default policy. Line ends become ``\\n`` first, the
        email package's own, so that ``get_content()`` gives text as it was written."""
        text = self.raw.replace(b"\r\n", b"\n")
        parsed = email.message_from_bytes(text, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _Handler:
    """aiosmtpd calls this in the server thread; it hands every DATA to the sink."""

    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content or b""
        if self._sink.delay_seconds:  # a slow relay: the reply comes this much later
            await asyncio.sleep(self._sink.delay_seconds)
        return self._sink._receive(envelope.mail_from or "", tuple(envelope.rcpt_tos), raw)


class SmtpSink:
    """A real SMTP server on 127.0.0.1 that keeps every accepted message.

    ``server_hostname`` is the name the server announces; giving one spares aiosmtpd the
    DNS lookup of this machine's name, which can stall for seconds.
    """

    def __init__(self, port: int | None = None, server_hostname: str = "localhost") -> None:
        self.port = _free_port() if port is None else port
        self.server_hostname = server_hostname
        self._condition = threading.Condition()
        self._received: list[ReceivedMail] = []
        self._refused: list[ReceivedMail] = []
        self._pending_replies: deque[str] = deque()
        self._controller: Controller | None = None
        self.delay_seconds = 0.0

    def __enter__(self) -> SmtpSink:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return HOST

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        if self._controller is not None:
            raise RuntimeError("the SMTP sink is already running")
        # A Controller closes its event loop when stopped, so every start makes a new one.
        controller = Controller(
            _Handler(self),
            hostname=HOST,
            port=self.port,
            server_hostname=self.server_hostname,
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def messages(self) -> list[ReceivedMail]:
        """The accepted messages, oldest first."""
        with self._condition:
            return list(self._received)

    @property
    def refused(self) -> list[ReceivedMail]:
        """The messages answered by `fail_next` or `reject_next`, with the reply given."""
        with self._condition:
            return list(self._refused)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMail]:
        """Block until at least ``count`` messages were accepted; TimeoutError after ``timeout``."""
        with self._condition:
            if not self._condition.wait_for(lambda: len(self._received) >= count, timeout):
                raise TimeoutError(
                    f"{len(self._received)} of {count} messages arrived within {timeout} s"
                )
            return list(self._received)

    def clear(self) -> None:
        """Forget received and refused messages and any replies still queued."""
        with self._condition:
            self._received.clear()
            self._refused.clear()
            self._pending_replies.clear()

    def fail_next(self, count: int = 1, code: int = 451, message: str = "Try again later") -> None:
        """Answer the next ``count`` messages with a temporary failure (4xx)."""
        if not 400 <= code < 500:
            raise ValueError(f"a temporary failure is a 4xx code, not {code}")
        self._queue_replies(count, code, message)

    def reject_next(self, count: int = 1, code: int = 550, message: str = "Rejected") -> None:
        """Answer the next ``count`` messages with a permanent failure (5xx)."""
        if not 500 <= code < 600:
            raise ValueError(f"a permanent failure is a 5xx code, not {code}")
        self._queue_replies(count, code, message)

    def _queue_replies(self, count: int, code: int, message: str) -> None:
        with self._condition:
            self._pending_replies.extend([f"{code} {message}"] * count)

    def _receive(self, mail_from: str, rcpt_tos: tuple[str, ...], raw: bytes) -> str:
        with self._condition:
            reply = self._pending_replies.popleft() if self._pending_replies else "250 OK"
            mail = ReceivedMail(mail_from, rcpt_tos, raw, datetime.now(UTC), reply)
            if reply.startswith("250"):
                self._received.append(mail)
                self._condition.notify_all()
            else:
                self._refused.append(mail)
            return reply


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])
