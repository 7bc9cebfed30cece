"""Commands that staff write in a reply: ``/verify high``, ``/needs-info``, ``/note ...``.

A line is a command when, after any leading white space, its first word starts with ``/`` and
holds no other ``/`` (so ``/etc/passwd is world-readable`` stays text). Every other line is
the message: it keeps its order, and only blank lines at its start and end go. Names and
values are case-insensitive. Parse only the reply itself (``replytext.latest_reply``), never
the quoted text below it, or an old command would run again.

``parse_commands`` reads; ``plan`` checks the commands in order against the state machine,
each seeing the status the ones before it leave. Neither applies anything: that needs the
store, and the caller must first know the sender is staff (``staff.evaluate``).

For a report that is triaged with no severity::

    /verify high
    /needs-info
    Thanks, confirmed on 4.2. Which build did you test?

parses to two commands and the text "Thanks, confirmed ...", and plans as
triaged -> verified (severity high), then verified -> needs-info.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple

from disclosure_inbox.domain.errors import IllegalTransition
from disclosure_inbox.domain.model import Severity, Status
from disclosure_inbox.domain.replies import deliverable
from disclosure_inbox.domain.sanitize import header_safe
from disclosure_inbox.domain.triage.model import CATEGORIES
from disclosure_inbox.domain.workflow import check_transition

MAX_COMMANDS = 20  # command lines read from one message; later ones are refused
MAX_LINE_CHARS = 500  # a longer command line is refused, not read
_QUOTE_CHARS = 60
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# config.py's reference_prefix is [A-Z][A-Z0-9]{0,15}; refs.format_ref adds year and number.
_REF = re.compile(r"\[?([A-Z][A-Z0-9]{0,15}-[0-9]{4}-[0-9]{4,9})\]?", re.IGNORECASE | re.ASCII)
# Finished statuses, as workflow's docstring lists them: the ones /reopen leaves.
_FINISHED = frozenset(
    {Status.RESOLVED, Status.CLOSED, Status.DUPLICATE, Status.OUT_OF_SCOPE, Status.SPAM}
)


class Verb(enum.StrEnum):
    TRIAGE = "triage"
    VERIFY = "verify"
    SEVERITY = "severity"
    NEEDS_INFO = "needs-info"
    RESOLVE = "resolve"
    CLOSE = "close"
    DUPLICATE = "duplicate"
    OUT_OF_SCOPE = "out-of-scope"
    SPAM = "spam"
    REOPEN = "reopen"
    ASSIGN = "assign"
    NOTE = "note"
    INTERNAL = "internal"
    DRAFT = "draft"


class Arg(enum.Enum):
    NONE = "none"
    SEVERITY = "SEVERITY"
    REF = "REF"
    REASON = "[REASON]"  # optional text
    ADDRESS = "ADDRESS"
    TEXT = "TEXT"  # required text
    DRAFT = "out-of-scope CATEGORY"  # the kind of draft, and its triage category


@dataclass(frozen=True, slots=True)
class Spec:
    arg: Arg
    target: Status | None = None  # the status the command moves to; None: no move

    def usage(self, verb: Verb) -> str:
        return f"/{verb}" if self.arg is Arg.NONE else f"/{verb} {self.arg.value}"


SPECS: Mapping[Verb, Spec] = MappingProxyType(
    {
        Verb.TRIAGE: Spec(Arg.NONE, Status.TRIAGED),  # looked at, answered
        Verb.VERIFY: Spec(Arg.SEVERITY, Status.VERIFIED),  # confirmed; starts the SLA clock
        Verb.SEVERITY: Spec(Arg.SEVERITY),  # a new severity, no move (recomputes the clock)
        Verb.NEEDS_INFO: Spec(Arg.NONE, Status.NEEDS_INFO),  # waiting for the reporter
        Verb.RESOLVE: Spec(Arg.NONE, Status.RESOLVED),
        Verb.CLOSE: Spec(Arg.NONE, Status.CLOSED),
        Verb.DUPLICATE: Spec(Arg.REF, Status.DUPLICATE),  # REF: the report it duplicates
        Verb.OUT_OF_SCOPE: Spec(Arg.REASON, Status.OUT_OF_SCOPE),
        Verb.SPAM: Spec(Arg.NONE, Status.SPAM),
        Verb.REOPEN: Spec(Arg.NONE, Status.TRIAGED),  # only from a finished status
        Verb.ASSIGN: Spec(Arg.ADDRESS),  # who owns the report; the caller checks it is staff
        Verb.NOTE: Spec(Arg.TEXT),  # an internal note, never sent to the reporter
        Verb.INTERNAL: Spec(Arg.NONE),  # record this message, do not send it to the reporter
        # A policy-citing reply drafted for the sender to edit: mailed to them, never sent on.
        Verb.DRAFT: Spec(Arg.DRAFT),
    }
)
USAGE = ", ".join(spec.usage(verb) for verb, spec in SPECS.items())
SEVERITIES = ", ".join(Severity)
_SEVERITY_NAMES = frozenset(s.value for s in Severity)


@dataclass(frozen=True, slots=True)
class Command:
    verb: Verb
    line: int  # 1-based, in the text given to parse_commands
    target: Status | None = None  # the status it moves to
    severity: Severity | None = None  # /verify and /severity
    argument: str = ""  # the REF (upper-cased), the reason, the address or the note


@dataclass(frozen=True, slots=True)
class Invalid:
    line: int
    text: str  # the line as written, one short line
    reason: str  # one line, naming what is valid


class ParsedCommands(NamedTuple):
    commands: tuple[Command | Invalid, ...]
    text: str  # the message without its command lines

    @property
    def only_commands(self) -> bool:
        """Commands and nothing else to say: no message for the reporter."""
        return bool(self.commands) and not self.text.strip()

    @property
    def internal(self) -> bool:
        return any(isinstance(c, Command) and c.verb is Verb.INTERNAL for c in self.commands)


def _quote(value: str) -> str:
    return repr(header_safe(value, _QUOTE_CHARS))


def _command_word(line: str) -> str | None:
    """The command name (lower-cased, without ``/``) when ``line`` is a command line."""
    stripped = line.lstrip()
    if not stripped.startswith("/"):
        return None
    word = stripped.split(maxsplit=1)[0]
    return None if "/" in word[1:] else word[1:].lower()


def _parse_line(line: str, number: int, word: str) -> Command | Invalid:
    def invalid(reason: str) -> Invalid:
        return Invalid(number, header_safe(line, _QUOTE_CHARS * 2), reason)

    if len(line) > MAX_LINE_CHARS:
        return invalid(f"command line longer than {MAX_LINE_CHARS} characters")
    if word not in SPECS:
        return invalid(f"unknown command {_quote('/' + word)}; the commands are: {USAGE}")
    verb = Verb(word)
    spec = SPECS[verb]
    parts = line.split(maxsplit=1)
    rest = parts[1].strip() if len(parts) > 1 else ""
    command = Command(verb, number, spec.target)
    if spec.arg is Arg.NONE:
        return invalid(f"/{verb} takes no argument") if rest else command
    if spec.arg is Arg.REASON:
        return Command(verb, number, spec.target, argument=rest)
    if not rest:
        return invalid(f"/{verb} needs {spec.arg.value}: {spec.usage(verb)}")
    if spec.arg is Arg.TEXT:
        return Command(verb, number, spec.target, argument=rest)
    if spec.arg is Arg.DRAFT:
        words = rest.lower().split()
        if len(words) != 2 or words[0] != "out-of-scope" or words[1] not in CATEGORIES:
            return invalid(f"{spec.usage(verb)}; CATEGORY one of {', '.join(CATEGORIES)}")
        return Command(verb, number, spec.target, argument=words[1])
    if len(rest.split()) > 1:
        return invalid(f"/{verb} takes one {spec.arg.value}: {spec.usage(verb)}")
    if spec.arg is Arg.SEVERITY:
        if rest.lower() not in _SEVERITY_NAMES:
            return invalid(f"unknown severity {_quote(rest)}; one of {SEVERITIES}")
        return Command(verb, number, spec.target, severity=Severity(rest.lower()))
    if spec.arg is Arg.REF:
        match = _REF.fullmatch(rest)
        if not match:
            return invalid(f"{_quote(rest)} is not a report reference such as SEC-2026-0001")
        return Command(verb, number, spec.target, argument=match.group(1).upper())
    address = rest.removeprefix("<").removesuffix(">").lower()
    if not deliverable(address):
        return invalid(f"{_quote(rest)} is not an address such as alice@example.com")
    return Command(verb, number, spec.target, argument=address)


def parse_commands(text: str) -> ParsedCommands:
    """The commands in ``text``, and the text without them (see the module docstring).

    Each command line becomes a ``Command``, or an ``Invalid`` with a one-line reason: an
    unknown name, a missing or bad argument, a line over ``MAX_LINE_CHARS``. After
    ``MAX_COMMANDS`` command lines, one ``Invalid`` stands for all the rest.
    """
    commands: list[Command | Invalid] = []
    kept: list[str] = []
    seen = 0
    for number, line in enumerate(_LINE_BREAK.split(text), start=1):
        word = _command_word(line)
        if word is None:
            kept.append(line)
            continue
        seen += 1
        if seen <= MAX_COMMANDS:
            commands.append(_parse_line(line, number, word))
        elif seen == MAX_COMMANDS + 1:
            reason = f"more than {MAX_COMMANDS} commands: this one and all after it ignored"
            commands.append(Invalid(number, header_safe(line, _QUOTE_CHARS * 2), reason))
    blank = [not line.strip() for line in kept]
    start = blank.index(False) if False in blank else len(kept)
    end = len(kept) - (blank[::-1].index(False) if False in blank else 0)
    return ParsedCommands(tuple(commands), "\n".join(kept[start:end]))


@dataclass(frozen=True, slots=True)
class Accepted:
    """A command that may be applied, and what the report looks like after it."""

    command: Command
    from_status: Status
    to_status: Status  # equal to from_status when the command moves nothing
    severity: Severity | None  # after the command

    @property
    def moves(self) -> bool:
        return self.to_status != self.from_status


@dataclass(frozen=True, slots=True)
class Refused:
    command: Command | Invalid
    reason: str  # one line: IllegalTransition's message, or why the command is invalid


def _step(command: Command, status: Status, severity: Severity | None) -> Accepted | Refused:
    if command.verb is Verb.SEVERITY:
        if command.severity == severity:
            return Refused(command, f"severity is already {severity}")
        return Accepted(command, status, status, command.severity)
    if command.target is None:  # /assign, /note, /internal, /draft: nothing to check
        return Accepted(command, status, status, severity)
    if command.verb is Verb.REOPEN and status not in _FINISHED:
        finished = ", ".join(sorted(_FINISHED))
        return Refused(command, f"report is {status}: /reopen is for {finished} reports")
    after = command.severity if command.verb is Verb.VERIFY else severity
    try:
        check_transition(
            status, command.target, severity=after, duplicate_of=command.argument or None
        )
    except IllegalTransition as exc:
        return Refused(command, str(exc))
    return Accepted(command, status, command.target, after)


def plan(
    commands: Iterable[Command | Invalid], current_status: Status, current_severity: Severity | None
) -> tuple[Accepted | Refused, ...]:
    """Each command, in order, accepted or refused against the workflow.

    A command sees the status and severity that the accepted commands before it leave; a
    refused one changes nothing, and the ones after it are still checked. ``Invalid`` lines
    are refused with their reason.
    """
    status, severity = current_status, current_severity
    steps: list[Accepted | Refused] = []
    for command in commands:
        if isinstance(command, Invalid):
            steps.append(Refused(command, command.reason))
            continue
        step = _step(command, status, severity)
        if isinstance(step, Accepted):
            status, severity = step.to_status, step.severity
        steps.append(step)
    return tuple(steps)
