"""The composition root: builds the parts from Settings, and one cycle of work (``run --once``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from disclosure_inbox.adapters.blobs import FileBlobStore
from disclosure_inbox.adapters.db.store import Store
from disclosure_inbox.adapters.imap import ImapMailbox
from disclosure_inbox.adapters.render import Renderer
from disclosure_inbox.adapters.smtp import SmtpSender
from disclosure_inbox.config import Settings
from disclosure_inbox.domain.errors import DisclosureInboxError
from disclosure_inbox.domain.openpgp import Signature
from disclosure_inbox.ports import (
    ClearSigner,
    ClearsignVerifier,
    Clock,
    Mailbox,
    SystemClock,
)
from disclosure_inbox.service.acks import Acknowledger
from disclosure_inbox.service.alerts import Alerts
from disclosure_inbox.service.escalation import Escalator, ScanResult
from disclosure_inbox.service.intake import Intake, IntakeResult, Planners
from disclosure_inbox.service.keyring import Keyring, open_keyring
from disclosure_inbox.service.leader import Leadership, leadership_for
from disclosure_inbox.service.notices import StaffNotifier
from disclosure_inbox.service.outbox import DrainResult, Outbox
from disclosure_inbox.service.parsing import Parser, ParseSettings
from disclosure_inbox.service.staffmail import StaffDesk
from disclosure_inbox.service.status import StatusReplies
from disclosure_inbox.service.triage import scope_rules

log = logging.getLogger(__name__)


@dataclass
class App:
    settings: Settings
    store: Store
    blobs: FileBlobStore
    renderer: Renderer
    clock: Clock = field(default_factory=SystemClock)
    keyring: Keyring | None = None  # [openpgp]; None: no OpenPGP
    _parser: Parser | None = field(default=None, init=False, repr=False)
    _outbox: Outbox | None = field(default=None, init=False, repr=False)

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None) -> App:
        renderer = Renderer(settings.templates.dir, settings.templates.locale)
        renderer.check()  # every template, rendered with sample data: ConfigError if broken
        keyring = open_keyring(settings)
        if keyring is not None:
            keyring.check()  # a wrong passphrase is a configuration error at start-up
        store = Store.from_url(settings.database_url)
        blobs = FileBlobStore(settings.storage.path / "blobs")
        return cls(
            settings=settings,
            store=store,
            blobs=blobs,
            renderer=renderer,
            clock=clock or SystemClock(),
            keyring=keyring,
        )

    def open_mailbox(self) -> Mailbox:
        return ImapMailbox(self.settings.imap)

    def parser(self) -> Parser:
        """The parse step, kept for the App's life: its worker pool is started once."""
        if self._parser is None:
            s = self.settings
            self._parser = Parser(
                ParseSettings(
                    blob_dir=str(self.blobs.root),
                    max_message_bytes=s.storage.max_message_bytes,
                    reference_prefix=s.organization.reference_prefix,
                    message_id_domain=s.organization.message_id_domain,
                    scope=scope_rules(s),
                    pgp_home=str(self.keyring.home) if self.keyring is not None else None,
                    pgp_passphrase=s.openpgp.secret() if s.openpgp is not None else None,
                    pgp_timeout=s.openpgp.timeout_seconds if s.openpgp is not None else 60.0,
                ),
                workers=s.intake.worker_count,
                timeout=s.intake.parse_timeout_seconds,
            )
        return self._parser

    def intake(self, after_commit: Callable[[], Any] = lambda: None) -> Intake:
        return Intake(
            self.settings,
            self.store,
            self.parser(),
            Planners(
                Acknowledger(self.settings, self.renderer),
                StaffNotifier(self.settings, self.renderer),
                StatusReplies(self.settings, self.renderer),
            ),
            desk=self.staff_desk(),
            after_commit=after_commit,
        )

    def staff_desk(self) -> StaffDesk:
        return StaffDesk(self.settings, self.store, self.renderer, self.blobs)

    def close_parser(self) -> None:
        """Stop the parse workers (started again when next needed)."""
        if self._parser is not None:
            self._parser.close()
            self._parser = None

    def close(self) -> None:
        """Stop the parse workers and the sender's thread; the store's connections go with
        ``store.engine``."""
        self.close_parser()
        if self._outbox is not None:
            self._outbox.close()
            self._outbox = None

    def outbox(self) -> Outbox:
        """The sender, kept for the App's life (it has a thread for its store calls)."""
        if self._outbox is None:
            self._outbox = Outbox(self.settings, self.store, keyring=self.keyring)
        return self._outbox

    def escalator(self) -> Escalator:
        return Escalator(self.settings, self.store, self.renderer)

    # --- for the commands and the daemon ------------------------------------------------

    @classmethod
    def without_template_check(cls, settings: Settings, clock: Clock | None = None) -> App:
        """The same parts, with nothing rendered first: for the commands that only read or
        change the store (``db``, ``reports``, ``outbox``, ``stats``), which a broken
        template must not lock out."""
        return cls(
            settings=settings,
            store=Store.from_url(settings.database_url),
            blobs=FileBlobStore(settings.storage.path / "blobs"),
            renderer=Renderer(settings.templates.dir, settings.templates.locale),
            clock=clock or SystemClock(),
        )

    @staticmethod
    def check_templates(settings: Settings) -> None:
        """Render every template with sample data, as ``build`` does: ConfigError if one is
        broken. Builds nothing else."""
        Renderer(settings.templates.dir, settings.templates.locale).check()

    def leadership(self) -> Leadership:
        """Who may do the work for this deployment (one database, one mailbox)."""
        s = self.settings
        return leadership_for(s.database_url, f"{s.imap.host}/{s.imap.mailbox}")

    def alerts(self) -> Alerts:
        return Alerts(self.settings, self.store, self.renderer)

    # --- for the commands that build no store (check-config, security-txt) -------------

    @staticmethod
    def command_clock() -> Clock:
        """The clock of a command that needs only the time: the same as an App's."""
        return SystemClock()

    @staticmethod
    def clearsigner(settings: Settings) -> ClearSigner | None:
        """The organisation's OpenPGP key, to clearsign what it publishes; None while no
        ``[openpgp]`` section is configured."""
        keyring = open_keyring(settings)
        if keyring is None:
            return None
        keyring.check()
        return _Clearsigning(keyring)

    @staticmethod
    def clearsign_verifier(settings: Settings) -> ClearsignVerifier | None:
        """Checks cleartext signatures against the organisation's key; None as above."""
        keyring = open_keyring(settings)
        return _Clearsigning(keyring) if keyring is not None else None


class _Clearsigning:
    """The keyring as the security.txt command's ports: text in, text out."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    def clearsign(self, text: str) -> str:
        return self.keyring.pgp.clearsign(text.encode("utf-8")).decode("utf-8")

    def verify_clearsigned(self, text: str) -> Signature:
        found = self.keyring.pgp.verify_clearsigned(text.encode("utf-8"))
        if found.status == "valid" and found.fingerprint != self.keyring.own:
            return Signature("unknown-key", found.fingerprint)  # good, but not our key
        return found


@dataclass
class CycleResult:
    intake: IntakeResult
    scan: ScanResult | None = None
    outbox: DrainResult | None = None
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"intake: {self.intake.summary()}"]
        if self.scan is not None:
            parts.append(f"sla: {self.scan.summary()}")
        if self.outbox is not None:
            parts.append(f"outbox: {self.outbox.summary()}")
        parts += [f"error: {e}" for e in self.errors]
        return "; ".join(parts)


def _progress_bar(
    enabled: bool,
) -> tuple[Callable[[int], Any] | None, Callable[[int], Any] | None, Callable[[], None]]:
    if not enabled:
        return None, None, lambda: None
    from tqdm import tqdm

    bar = tqdm(total=0, unit="msg", file=sys.stderr, desc="intake", leave=False)

    def set_total(n: int) -> None:
        bar.total = n
        bar.refresh()

    return bar.update, set_total, bar.close


def run_intake(
    app: App, *, progress: bool = False, after_commit: Callable[[], Any] = lambda: None
) -> IntakeResult:
    now = app.clock.now()
    update, set_total, close = _progress_bar(progress)
    mailbox = app.open_mailbox()
    try:
        with _logs_above_the_bar(progress):
            return app.intake(after_commit).run(mailbox, now, progress=update, total=set_total)
    finally:
        close()
        mailbox.close()


def _logs_above_the_bar(progress: bool) -> contextlib.AbstractContextManager[Any]:
    """While the bar is shown, log lines are printed above it instead of through it."""
    if not progress:
        return contextlib.nullcontext()
    from tqdm.contrib.logging import logging_redirect_tqdm

    return logging_redirect_tqdm()


def run_cycle(app: App, *, progress: bool = False) -> CycleResult:
    """One full cycle of work: intake of everything pending and the SLA scan, while the
    outbox sends what each committed intake batch queued, over one SMTP connection.

    An outage of one server does not keep the other steps from running; each error is
    reported and the cycle counts as failed.
    """
    app.store.check_schema()
    return asyncio.run(_cycle(app, progress))


async def _cycle(app: App, progress: bool) -> CycleResult:
    result = CycleResult(intake=IntakeResult())
    loop = asyncio.get_running_loop()
    mail_due = asyncio.Event()
    mail_due.set()  # whatever an earlier cycle left behind
    finished = False

    def step(name: str, work: Callable[[], Any]) -> Any:
        try:
            return work()
        except DisclosureInboxError as exc:
            log.error("%s failed: %s", name, exc)
            result.errors.append(f"{name}: {exc}")
        except Exception as exc:  # a bug: keep it from holding back the other steps
            log.exception("%s failed unexpectedly", name)
            result.errors.append(f"{name}: {type(exc).__name__}: {exc}")
        return None

    async def send() -> DrainResult:
        total = DrainResult()
        outbox = app.outbox()
        async with SmtpSender(app.settings.smtp) as sender:
            while True:
                await mail_due.wait()
                mail_due.clear()
                total.add(await outbox.drain(app.clock, sender=sender))
                if total.server_unwell or (finished and not mail_due.is_set()):
                    return total

    async def sending() -> DrainResult | None:
        try:
            return await send()
        except Exception as exc:
            failure = exc
        return step("outbox", lambda: _reraise(failure))

    sender_task = asyncio.create_task(sending())

    def wake() -> None:  # from the intake thread, after each batch's commit
        loop.call_soon_threadsafe(mail_due.set)

    try:
        intake = await asyncio.to_thread(
            step, "intake", lambda: run_intake(app, progress=progress, after_commit=wake)
        )
        result.intake = intake or result.intake
    finally:
        app.close_parser()
    result.scan = await asyncio.to_thread(
        step, "sla", lambda: app.escalator().scan(app.clock.now())
    )
    finished = True
    mail_due.set()
    result.outbox = await sender_task
    return result


def _reraise(exc: Exception) -> None:
    raise exc
