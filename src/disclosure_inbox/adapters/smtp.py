"""SMTP through aiosmtplib, behind a small sender that reuses one connection for a batch.

Errors are mapped once: a 4xx reply or a network error is ``SendDeferred`` (retry later); a
5xx reply is ``SendRejected`` (park the message); a TLS failure is ``SecurityError`` (never
retried in plain text).

The wait for each reply is bounded by ``timeout_seconds`` of time in which this process ran
(``_within``): a process stopped or starved past its timeout (SIGSTOP, a swap storm, a VM
pause) finds the server's reply waiting in the socket when it runs again, and reads it, instead
of calling a delivered message failed and sending it a second time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Sequence
from types import TracebackType
from typing import TypeVar

import aiosmtplib

from disclosure_inbox.adapters.imap import tls_context
from disclosure_inbox.config import Smtp
from disclosure_inbox.domain.errors import SecurityError, SendDeferred, SendRejected

log = logging.getLogger(__name__)
T = TypeVar("T")

# How often a send's time is counted; one count never adds more than this, so a pause of the
# whole process, seen as one long step, costs the send at most one step of its timeout.
STEP_SECONDS = 0.25


async def _within(aw: Awaitable[T], seconds: float) -> T:
    """``aw``'s result, or ``SMTPTimeoutError`` once it has had ``seconds`` of running time.

    A plain timeout fires the moment a stopped process resumes, beside the reply that arrived
    meanwhile, and either may win; this one counts the steps it saw, each at most
    ``STEP_SECONDS``. Under CPU load steps run late, which only lengthens the wait."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(aw)
    left = seconds
    last = loop.time()
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=min(left, STEP_SECONDS))
            if done:
                return task.result()
            now = loop.time()
            left -= min(now - last, STEP_SECONDS)
            last = now
            if left <= 0:
                raise aiosmtplib.SMTPTimeoutError("Timed out waiting for server response")
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


def _reply(exc: aiosmtplib.SMTPResponseException) -> str:
    return f"{exc.code} {exc.message}".strip()


def _tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError | ssl.CertificateError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _network_failure(exc: BaseException) -> bool:
    return isinstance(
        exc,
        aiosmtplib.SMTPConnectError
        | aiosmtplib.SMTPConnectTimeoutError
        | aiosmtplib.SMTPServerDisconnected
        | aiosmtplib.SMTPTimeoutError
        | OSError,
    )


async def _discard(client: aiosmtplib.SMTP) -> None:
    with contextlib.suppress(Exception):
        client.close()


class SmtpSender:
    """``async with SmtpSender(cfg) as s: await s.send(...)``; reconnects after a failure."""

    def __init__(self, settings: Smtp, *, local_hostname: str = "localhost") -> None:
        self._s = settings
        self._local_hostname = local_hostname
        self._client: aiosmtplib.SMTP | None = None

    async def __aenter__(self) -> SmtpSender:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self._s
        context = tls_context(s.verify_certificates, s.ca_file)
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            use_tls=s.tls == "ssl",
            # Never upgrade or downgrade on our own: STARTTLS exactly when configured.
            start_tls=s.tls == "starttls",
            tls_context=context if s.tls != "none" else None,
            validate_certs=s.verify_certificates,
            timeout=s.timeout_seconds,
            local_hostname=self._local_hostname,  # no DNS lookup of our own name
        )
        try:
            await client.connect()
        except (aiosmtplib.SMTPException, OSError) as exc:
            await _discard(client)
            if _tls_failure(exc) or (s.tls == "starttls" and not _network_failure(exc)):
                # With STARTTLS configured, anything between the greeting and the encrypted
                # channel (no STARTTLS offered, a refused handshake) is a security failure.
                raise SecurityError(f"SMTP TLS with {s.host}:{s.port} failed: {exc}") from exc
            raise SendDeferred(f"cannot connect to SMTP {s.host}:{s.port}: {exc}") from exc
        if s.username and s.password is not None:
            try:
                await client.login(s.username, s.password.get_secret_value())
            except (aiosmtplib.SMTPException, OSError) as exc:
                await _discard(client)
                raise SendDeferred(
                    f"SMTP login to {s.host}:{s.port} as {s.username} failed: {exc}"
                ) from exc
        return client

    async def send(self, envelope_from: str, recipients: Sequence[str], raw: bytes) -> str:
        """Send one message; return the server's reply. Raises SendDeferred or SendRejected."""
        if self._client is None or not self._client.is_connected:
            self._client = await self._connect()
        try:
            errors, reply = await _within(
                self._client.sendmail(envelope_from, list(recipients), raw, timeout=None),
                self._s.timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            text = "; ".join(_reply(r) for r in exc.recipients)
            if all(500 <= c < 600 for c in codes):
                raise SendRejected(text) from exc
            raise SendDeferred(text) from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                raise SendRejected(_reply(exc)) from exc
            await self.close()
            raise SendDeferred(_reply(exc)) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            await self.close()
            raise SendDeferred(f"SMTP {self._s.host}:{self._s.port}: {exc}") from exc
        return reply

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except Exception:  # already gone; nothing to flush
                client.close()
