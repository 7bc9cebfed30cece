"""The notify protocol against real datagram sockets, the way systemd listens for it."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from disclosure_inbox.service.notify import Notifier


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # sun_path holds 108 bytes; pytest's tmp_path can be longer than that.
    with tempfile.TemporaryDirectory(prefix="sdn-", dir="/tmp") as name:
        yield Path(name)


@pytest.fixture
def path_socket(short_dir: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(short_dir / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(5)
        yield sock, path


def recv(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def test_path_socket_gets_each_state(path_socket: tuple[socket.socket, str]) -> None:
    sock, path = path_socket
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path})
    assert notifier.enabled

    notifier.ready("intake idle, 3 pending")
    assert recv(sock) == "READY=1\nSTATUS=intake idle, 3 pending"
    notifier.status("fetching 12 messages")
    assert recv(sock) == "STATUS=fetching 12 messages"
    notifier.watchdog()
    assert recv(sock) == "WATCHDOG=1"
    notifier.stopping("draining outbox")
    assert recv(sock) == "STOPPING=1\nSTATUS=draining outbox"
    notifier.stopping()
    assert recv(sock) == "STOPPING=1"


def test_reloading_carries_the_monotonic_time(path_socket: tuple[socket.socket, str]) -> None:
    sock, path = path_socket
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path})
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000

    first, second = recv(sock).split("\n")
    assert first == "RELOADING=1"
    key, value = second.split("=")
    assert key == "MONOTONIC_USEC"
    assert before <= int(value) <= after


def test_abstract_socket() -> None:
    name = f"disclosure-inbox-test-{secrets.token_hex(8)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        Notifier.from_env({"NOTIFY_SOCKET": "@" + name}).ready("up")
        assert recv(sock) == "READY=1\nSTATUS=up"


def test_newlines_in_status_stay_on_one_line(path_socket: tuple[socket.socket, str]) -> None:
    sock, path = path_socket
    Notifier.from_env({"NOTIFY_SOCKET": path}).status("IMAP error:\r\nREADY=1\n")
    assert recv(sock) == "STATUS=IMAP error: READY=1"


def test_without_notify_socket_nothing_is_sent(path_socket: tuple[socket.socket, str]) -> None:
    sock, _path = path_socket
    notifier = Notifier.from_env({})
    assert not notifier.enabled
    notifier.ready("up")
    notifier.status("working")
    notifier.watchdog()
    notifier.reloading()
    notifier.stopping("bye")
    sock.setblocking(False)
    with pytest.raises(BlockingIOError):
        sock.recv(4096)


def test_unsupported_socket_address_is_ignored() -> None:
    assert not Notifier.from_env({"NOTIFY_SOCKET": "vsock:2:1234"}).enabled


def test_watchdog_interval_is_half_the_period() -> None:
    env = {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "60000000"}
    assert Notifier.from_env(env).watchdog_interval() == 30.0
    mine = {**env, "WATCHDOG_PID": str(os.getpid())}
    assert Notifier.from_env(mine).watchdog_interval() == 30.0


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid() + 1)},
        {"WATCHDOG_USEC": "0"},
        {"WATCHDOG_USEC": "sixty"},
    ],
    ids=["unset", "another-pid", "zero", "garbage"],
)
def test_no_watchdog(env: dict[str, str]) -> None:
    assert Notifier.from_env({"NOTIFY_SOCKET": "@x", **env}).watchdog_interval() is None


def test_a_vanished_socket_does_not_raise(
    short_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="disclosure_inbox.service.notify")
    path = str(short_dir / "gone")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path})
    notifier.ready("up")  # the file is still there, nobody listens: ECONNREFUSED
    os.unlink(path)
    notifier.watchdog()  # ENOENT
    notifier.stopping("bye")
    assert [r.levelno for r in caplog.records] == [logging.DEBUG] * 3
