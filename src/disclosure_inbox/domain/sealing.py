"""How a queued message is sealed right before its first send: encrypted, left plain, or held.

A message is built when it is queued; the outbox seals it when it first claims the row
(``service.sealing``). ``Outgoing.protect`` says for whom: ``reporter`` (mail to the reporter:
the acknowledgement, relayed staff replies, status replies) or ``staff`` (a staff notice that
holds the text of an encrypted report). The caller looks up the recipient's newest stored key
and the configuration; ``decide`` runs ``RULES`` in order and the first rule that gives a
verdict decides. Its name goes to the log and the audit trail.

Plain is the answer only where it is today's behaviour: a reporter of whom no key is known,
or a deployment that does not encrypt replies. A staff notice that was queued to be encrypted
holds text its reporter encrypted: with no staff key to encrypt it to, it is held (the row
fails with the reason) rather than sent in clear.

Worked example: Rita sent her key with her report; ``[openpgp]`` is configured with ``sign =
true``. Her acknowledgement, ``protect="reporter"`` with her key's fingerprint found, meets
``reporter-key``: encrypt to that fingerprint, signed inside. Ada sent no key: her
acknowledgement meets ``no-reporter-key`` and goes as it was built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

REPORTER = "reporter"
STAFF = "staff"
PROTECTIONS = frozenset({REPORTER, STAFF})

Action = Literal["plain", "encrypt", "hold"]


@dataclass(frozen=True, slots=True)
class SealContext:
    """What the rules read about one queued message; the caller looks the key up."""

    protect: str | None
    openpgp: bool  # an [openpgp] section is configured
    encrypt_replies: bool  # [openpgp] encrypt_replies
    sign: bool  # [openpgp] sign
    staff_keys: tuple[str, ...]  # fingerprints of [openpgp] staff_keys
    reporter_key: str | None  # the newest stored key for the recipient's address


@dataclass(frozen=True, slots=True)
class Seal:
    """A verdict: ``encrypt`` to ``recipients`` (fingerprints, signed inside if ``sign``),
    send ``plain``, or ``hold`` (send nothing, for ``reason``)."""

    action: Action
    recipients: tuple[str, ...] = ()
    sign: bool = False
    reason: str = ""
    rule: str = ""

    def __post_init__(self) -> None:
        if (self.action == "encrypt") != bool(self.recipients):
            raise ValueError("an encrypting seal names its recipients, and only such a seal")
        if self.action == "hold" and not self.reason:
            raise ValueError("a held message says why")


PLAIN = Seal("plain")
Rule = tuple[str, Callable[[SealContext], Seal | None]]


def _unprotected(c: SealContext) -> Seal | None:
    return PLAIN if c.protect is None else None


def _unknown(c: SealContext) -> Seal | None:
    if c.protect in PROTECTIONS:
        return None
    return Seal("hold", reason=f"unknown protection {c.protect!r}")


def _staff_without_keys(c: SealContext) -> Seal | None:
    if c.protect != STAFF or (c.openpgp and c.staff_keys):
        return None
    return Seal(
        "hold",
        reason="the notice holds an encrypted report's text and no staff OpenPGP key is "
        "configured ([openpgp] staff_keys) to encrypt it to",
    )


def _staff_keys(c: SealContext) -> Seal | None:
    return Seal("encrypt", c.staff_keys, sign=c.sign) if c.protect == STAFF else None


def _no_openpgp(c: SealContext) -> Seal | None:
    return PLAIN if not c.openpgp else None


def _replies_unencrypted(c: SealContext) -> Seal | None:
    return PLAIN if not c.encrypt_replies else None


def _no_reporter_key(c: SealContext) -> Seal | None:
    return PLAIN if c.reporter_key is None else None


def _reporter_key(c: SealContext) -> Seal | None:
    return Seal("encrypt", (c.reporter_key,), sign=c.sign) if c.reporter_key else None


RULES: tuple[Rule, ...] = (
    # Staff mail, escalations and alerts: sent as they were built.
    ("unprotected", _unprotected),
    # A value this version does not know (a newer version queued it): sent by nobody.
    ("unknown-protection", _unknown),
    # A staff notice queued to be encrypted holds what its reporter encrypted: never in clear.
    ("staff-without-keys", _staff_without_keys),
    ("staff-keys", _staff_keys),
    # For the reporter, plain mail is today's behaviour wherever nothing can be encrypted:
    # no [openpgp] section, replies not to be encrypted, or no key known for the address.
    ("no-openpgp", _no_openpgp),
    ("replies-unencrypted", _replies_unencrypted),
    ("no-reporter-key", _no_reporter_key),
    ("reporter-key", _reporter_key),
)


def decide(c: SealContext, rules: tuple[Rule, ...] = RULES) -> Seal:
    """The verdict of the first rule in ``rules`` that gives one, with the rule's name."""
    for name, rule in rules:
        verdict = rule(c)
        if verdict is not None:
            return replace(verdict, rule=name)
    raise AssertionError("the last rule always decides")
