"""The parse step of intake: raw bytes in, ``Incoming`` (parsed, its bytes durable) out.

Parsing is the CPU-heavy part of intake, so a fetched batch is parsed by a pool of worker
processes (``[intake] workers``, one per CPU by default) while the intake thread looks things
up and writes the batch before it (``Parser.submit`` starts a batch, ``Parsing.results``
waits for it; completions are taken from one queue, so a batch of n costs O(n) to
collect). A batch of one message, or ``workers = 1``, is parsed in the intake thread itself:
starting a pool costs more than it saves there. Each worker also writes the message's
raw bytes and its attachments to the blob store (content-addressed, fsynced), so the bytes
are durable before the commit that names them and attachment payloads never travel back to
the intake process.

A message that crashes its worker, or hangs past ``[intake] parse_timeout_seconds``, must not
stop the batch: the pool is replaced, every message whose result was lost is parsed again
alone in a fresh one-worker pool, and the one that fails there too comes back as a
``ParseFailure``, which intake counts as a failed attempt (quarantined after ``[imap]
max_attempts``). Workers are started with ``spawn``, not ``fork``: the daemon has threads
(IDLE, the scheduler), and a forked child could inherit a lock one of them held.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path

from disclosure_inbox.adapters.blobs import FileBlobStore
from disclosure_inbox.adapters.openpgp import OpenPGP
from disclosure_inbox.adapters.parse import parse_headers_only, parse_message
from disclosure_inbox.domain import loops
from disclosure_inbox.domain.intake import Incoming, StoredAttachment
from disclosure_inbox.domain.mail_ids import our_message_ids
from disclosure_inbox.domain.model import ParsedMessage, RawMessage
from disclosure_inbox.domain.refs import refs_in_subject
from disclosure_inbox.domain.triage.assess import ScopeRules, assess
from disclosure_inbox.domain.triage.model import Assessment
from disclosure_inbox.domain.triage.sources import sources_of
from disclosure_inbox.service.pgpin import Opened, open_message

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParseSettings:
    """What the parse step needs; small and picklable, sent to each worker once."""

    blob_dir: str
    max_message_bytes: int
    reference_prefix: str
    message_id_domain: str
    scope: ScopeRules | None = None  # None: no triage (the texts are not assessed)
    # [openpgp]: the GnuPG home encrypted mail is decrypted with (None: it is not).
    pgp_home: str | None = None
    pgp_passphrase: str | None = field(default=None, repr=False)
    pgp_timeout: float = 60.0


@dataclass(frozen=True)
class ParseFailure:
    raw: RawMessage
    error: str


Prepare = Callable[[RawMessage], Incoming]


# --- in a worker (or the intake thread) -------------------------------------------------

_settings: ParseSettings | None = None
_blobs: FileBlobStore | None = None
_pgp: OpenPGP | None = None


def _init_worker(settings: ParseSettings, watch_parent: bool = False) -> None:
    global _settings, _blobs, _pgp
    _settings, _blobs = settings, FileBlobStore(Path(settings.blob_dir))
    _pgp = None
    if settings.pgp_home is not None:
        _pgp = OpenPGP(
            Path(settings.pgp_home),
            passphrase=settings.pgp_passphrase,
            timeout_seconds=settings.pgp_timeout,
        )
    if watch_parent:
        threading.Thread(target=_end_with, args=(os.getppid(),), daemon=True).start()


def _end_with(parent: int) -> None:
    """A worker whose intake process died (SIGKILL, say) ends too, within a second: it would
    otherwise wait for work forever, as the queue it reads never reaches its end."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def prepare(raw: RawMessage) -> Incoming:
    """Parse one message and make its bytes durable. Never raises for the message's own
    faults: a message neither parser can read comes back as ``unparseable``."""
    assert _settings is not None and _blobs is not None, "the parse step was not set up"
    s, blobs = _settings, _blobs
    digest = blobs.put(raw.raw)
    problem = None
    if raw.size > s.max_message_bytes:
        outcome, parsed = "oversized", parse_headers_only(raw.raw)
    else:
        try:
            parsed = parse_message(raw.raw)
            outcome = parsed.parser
        except Exception as exc:  # both parsers gave up (e.g. nesting past the stack)
            outcome, problem = "unparseable", f"{type(exc).__name__}: {exc}"
            parsed = _headers_or_nothing(raw.raw)
    readable = outcome not in ("oversized", "unparseable")
    opened = open_message(raw.raw, parsed, _pgp) if readable else Opened(parsed)
    parsed = opened.parsed
    stored = tuple(
        StoredAttachment(a.filename, a.content_type, len(a.content), blobs.put(a.content))
        for a in parsed.attachments
    )
    return Incoming(
        mailbox=raw.mailbox,
        uidvalidity=raw.uidvalidity,
        uid=raw.uid,
        internaldate=raw.internaldate,
        size=raw.size,
        sha256=digest,
        parsed=replace(parsed, attachments=()),
        parse_outcome=outcome,
        problem=problem,
        subject_refs=tuple(refs_in_subject(s.reference_prefix, parsed.subject)),
        quoted_ids=_quoted_own_ids(parsed, raw.raw, s.message_id_domain),
        attachments=stored,
        max_bytes=s.max_message_bytes,
        triage=_assess(parsed, s.scope) if readable else None,
        encryption=opened.encryption,
        encryption_problem=opened.problem,
        signature=opened.signature,
        offered_keys=tuple((k.fingerprint, k.uids, k.armored) for k in opened.keys),
    )


def _assess(parsed: ParsedMessage, scope: ScopeRules | None) -> Assessment | None:
    """Triage of the message's texts; never fails the message (triage only advises)."""
    if scope is None:
        return None
    try:
        return assess(sources_of(parsed), scope)
    except Exception:
        log.exception("triage of message %s failed; it is stored without", parsed.message_id)
        return None


def _quoted_own_ids(parsed: ParsedMessage, raw: bytes, domain: str) -> tuple[str, ...]:
    """A bounce quotes the message it returns: our Message-IDs there find the report."""
    if not loops.looks_like_bounce(parsed.sender_address, parsed.content_type):
        return ()
    return tuple(our_message_ids(raw.decode("latin-1"), domain))


def _headers_or_nothing(raw: bytes) -> ParsedMessage:
    try:
        return parse_headers_only(raw)
    except Exception:
        return EMPTY


EMPTY = ParsedMessage(
    message_id=None,
    sender_address="",
    sender_name="",
    subject="",
    date_header=None,
    in_reply_to=(),
    references=(),
    text="",
    html="",
    attachments=(),
    headers={},
    content_type="",
    parser="none",
)


# --- in the intake process -------------------------------------------------------------


class Parsing:
    """A batch handed to the parse step; ``results`` waits for it. In the pool, the batch
    is parsed while the caller does other work (writes the batch before it, say)."""

    def __init__(self, parser: Parser, raws: Sequence[RawMessage]) -> None:
        self._parser, self._raws = parser, list(raws)
        self._futures: dict[Future[Incoming], int] = {}
        self._done: queue.SimpleQueue[Future[Incoming]] = queue.SimpleQueue()
        if parser.pooled(self._raws):
            pool = parser.pool()
            for i, raw in enumerate(self._raws):
                future = pool.submit(parser.prepare_fn, raw)
                self._futures[future] = i
                future.add_done_callback(self._done.put)

    def results(self) -> list[Incoming | ParseFailure]:
        if not self._futures:
            return [self._parser.here(raw) for raw in self._raws]
        results: dict[int, Incoming | ParseFailure] = {}
        try:
            # A hung worker shows as no result for ``timeout`` seconds in a row.
            for _ in range(len(self._futures)):
                try:
                    future = self._done.get(timeout=self._parser.timeout)
                except queue.Empty:
                    raise TimeoutError from None
                i = self._futures[future]
                results[i] = _result(future, self._raws[i])
        except (BrokenProcessPool, TimeoutError) as exc:
            lost = [i for i in range(len(self._raws)) if i not in results]
            log.error(
                "a parse worker %s; replacing the pool and parsing %d message(s) one by one",
                "died" if isinstance(exc, BrokenProcessPool) else "hung",
                len(lost),
            )
            self._parser.kill_pool()
            for i in lost:
                results[i] = self._parser.alone(self._raws[i])
        return [results[i] for i in range(len(self._raws))]

    def cancel(self) -> None:
        """Drop what has not started (the pass ended before it needed these results)."""
        for future in self._futures:
            future.cancel()


class Parser:
    """Parses batches, in a pool when that pays. ``prepare_fn`` is the port: tests pass one
    that crashes or hangs on purpose."""

    def __init__(
        self, settings: ParseSettings, workers: int, timeout: float, prepare_fn: Prepare = prepare
    ) -> None:
        self.settings = settings
        self.workers = workers
        self.timeout = timeout
        self.prepare_fn = prepare_fn
        self._pool: ProcessPoolExecutor | None = None
        _init_worker(settings)  # for batches parsed in this process

    def parse(self, raws: Sequence[RawMessage]) -> list[Incoming | ParseFailure]:
        return self.submit(raws).results()

    def submit(self, raws: Sequence[RawMessage]) -> Parsing:
        """Start parsing ``raws``; the results come from the returned ``Parsing``."""
        return Parsing(self, raws)

    def pooled(self, raws: Sequence[RawMessage]) -> bool:
        return self.workers > 1 and len(raws) > 1

    def warm(self) -> None:
        """Start the workers now (each imports the parsers, about a second of CPU), so that
        they are ready when the first batch comes; a pass with a backlog calls this first."""
        if self.workers > 1:
            pool = self.pool()
            for _ in range(self.workers):
                pool.submit(_ready)

    def keep(self, raw: bytes) -> str:
        """Make bytes durable in the blob store (in this process); their sha256."""
        assert _blobs is not None
        return _blobs.put(raw)

    @staticmethod
    def headers_or_nothing(raw: bytes) -> ParsedMessage:
        return _headers_or_nothing(raw)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def here(self, raw: RawMessage) -> Incoming | ParseFailure:
        """Parse one message in this process."""
        try:
            return self.prepare_fn(raw)
        except OSError:
            raise  # the blob store's disk, not the message: the pass stops
        except Exception as exc:  # a bug in the step itself, met by this message
            return ParseFailure(raw, f"{type(exc).__name__}: {exc}")

    def pool(self) -> ProcessPoolExecutor:
        self._pool = self._pool or self._new_pool(self.workers)
        return self._pool

    def alone(self, raw: RawMessage) -> Incoming | ParseFailure:
        """Parse one message in a fresh one-worker pool: a crash or hang is its own."""
        pool = self._new_pool(1)
        try:
            future = pool.submit(self.prepare_fn, raw)
            try:
                return future.result(self.timeout)  # raises what the worker raised
            except BrokenProcessPool:
                why = "its parse worker died"
            except TimeoutError:
                why = f"parsing took longer than {self.timeout:g} s"
            except OSError:
                raise  # the blob store's disk
            except Exception as exc:
                why = f"{type(exc).__name__}: {exc}"
            log.error("UID %s of %s: %s", raw.uid, raw.mailbox, why)
            return ParseFailure(raw, why)
        finally:
            _kill(pool)

    def _new_pool(self, workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.settings, True),
        )

    def kill_pool(self) -> None:
        if self._pool is not None:
            _kill(self._pool)
            self._pool = None


def _result(future: Future[Incoming], raw: RawMessage) -> Incoming | ParseFailure:
    error = future.exception()
    if error is None:
        return future.result()
    if isinstance(error, BrokenProcessPool):
        raise error
    if isinstance(error, OSError):
        raise error  # the blob store's disk
    return ParseFailure(raw, f"{type(error).__name__}: {error}")


def _ready() -> None:
    """A task that does nothing: the worker that runs it has started and imported."""


def _kill(pool: ProcessPoolExecutor) -> None:
    """End a pool now, hung workers included. ``ProcessPoolExecutor`` has no public way to
    stop a running task before Python 3.14 (``terminate_workers``), hence ``_processes``."""
    processes = list(getattr(pool, "_processes", {}).values())
    for process in processes:
        process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.join(5)
