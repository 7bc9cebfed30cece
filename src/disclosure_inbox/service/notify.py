"""Telling systemd how the daemon is doing: the sd_notify(3) datagram protocol, without libsystemd.

systemd passes ``NOTIFY_SOCKET`` (a path, or an abstract name written with a leading ``@``) to a
``Type=notify`` service; the service sends newline-separated ``KEY=value`` assignments to it as
one datagram. ``WATCHDOG_USEC`` is set when the unit has ``WatchdogSec=``; the service must send
``WATCHDOG=1`` more often than that, and sd_watchdog_enabled(3) recommends every half period.

Notification is best effort. Outside systemd (a terminal, a container) there is no socket and
every call does nothing; when the socket is there but sending fails, the failure is logged at
debug level and the daemon goes on, because a missed status line must never stop intake.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)

# A send blocks only when systemd's receive queue is full; waiting a little rides out a burst,
# waiting longer would stall the caller's event loop for a message systemd may never read.
_SEND_TIMEOUT_SECONDS = 1.0


def _one_line(text: str) -> str:
    # A newline would end the STATUS= assignment and start a new, unintended one.
    return " ".join(text.splitlines()).strip()


def _socket_address(value: str) -> str | None:
    if value.startswith("@"):
        return "\0" + value[1:]  # Linux abstract namespace
    if value.startswith("/"):
        return value
    return None  # vsock: and other transports of newer systemd are not supported


def _watchdog_usec(environ: Mapping[str, str], pid: int) -> int | None:
    # WATCHDOG_PID names the process the watchdog is meant for; a child that inherited the
    # environment must not think it is being watched.
    owner = environ.get("WATCHDOG_PID", "").strip()
    if owner and owner != str(pid):
        return None
    try:
        usec = int(environ.get("WATCHDOG_USEC", "").strip())
    except ValueError:
        return None
    return usec if usec > 0 else None


class Notifier:
    """Sends service state to systemd; does nothing when not started by systemd."""

    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        """``address`` is a socket path, or ``"\\0name"`` for an abstract socket."""
        self._address = address
        self._watchdog_usec = watchdog_usec

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Notifier:
        raw = environ.get("NOTIFY_SOCKET", "")
        address = _socket_address(raw) if raw else None
        if raw and address is None:
            log.debug("NOTIFY_SOCKET=%r is not a path or abstract socket; not notifying", raw)
        return cls(address, _watchdog_usec(environ, os.getpid()))

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def watchdog_interval(self) -> float | None:
        """Seconds between ``watchdog()`` calls (half the period), or None if not watched."""
        if self._watchdog_usec is None:
            return None
        return self._watchdog_usec / 2 / 1_000_000

    def ready(self, status: str = "") -> None:
        """Start-up is complete: systemd starts dependent units and ``systemctl start`` returns."""
        self._send("READY=1", status)

    def status(self, text: str) -> None:
        """A one-line free-form state, shown by ``systemctl status``."""
        self._send(None, text)

    def stopping(self, status: str = "") -> None:
        self._send("STOPPING=1", status)

    def reloading(self) -> None:
        """A reload has begun; send ``ready()`` when it is done.

        systemd 253 and later (``Type=notify-reload``) match the reload by the CLOCK_MONOTONIC
        time in MONOTONIC_USEC; older versions ignore that field.
        """
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self._send(f"RELOADING=1\nMONOTONIC_USEC={usec}", "")

    def watchdog(self) -> None:
        self._send("WATCHDOG=1", "")

    def _send(self, state: str | None, status: str) -> None:
        if self._address is None:
            return
        lines = [state] if state else []
        line = _one_line(status)
        if line:
            lines.append(f"STATUS={line}")
        if not lines:
            return
        payload = "\n".join(lines).encode("utf-8", errors="replace")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.settimeout(_SEND_TIMEOUT_SECONDS)
                sock.sendto(payload, self._address)
        except Exception:
            # Deliberately broad: whatever goes wrong here, the daemon's work matters more.
            log.debug("could not notify systemd at %r", self._address, exc_info=True)
