"""The error tree. Adapters map their libraries' exceptions into it once, with ``raise ... from``.

DisclosureInboxError
 ├── TransientError          try again later: the server or network is unavailable
 │    ├── MailboxUnavailable  IMAP connect/login/select failed or dropped
 │    ├── StoreUnavailable    the database cannot be reached
 │    ├── LeadershipLost      another instance took over: this one's writes are refused
 │    ├── SendDeferred        SMTP 4xx or a network error while sending
 │    └── OpenPGPUnavailable  gpg could not be started, or did not finish in time
 └── PermanentError          retrying will not help
      ├── SecurityError       TLS could not be set up or verified (never downgraded)
      ├── SendRejected        SMTP 5xx: the server refused the message
      ├── IllegalTransition   a workflow step that the state machine does not allow
      ├── NotFound            no such report, outbox row, ...
      ├── DamagedStore        bytes the store refers to are missing, or no longer match
      ├── CannotWrite         a file for staff (a saved attachment) cannot be written
      ├── KeyUnusable         an OpenPGP key to encrypt to or sign with cannot be used
      │    └── RecipientKeyUnusable   the key to encrypt to (expired, revoked, ...)
      ├── AlreadyRecorded     a unique key shows another instance did this step first
      └── UsageError          bad arguments that argparse cannot see
"""


class DisclosureInboxError(Exception):
    """Base of every error this package raises on purpose."""


class TransientError(DisclosureInboxError):
    pass


class MailboxUnavailable(TransientError):
    pass


class StoreUnavailable(TransientError):
    pass


class LeadershipLost(TransientError):
    """This instance's leadership epoch is stale: a newer leader took over, so the write in
    hand was rolled back and the instance must step down."""

    def __init__(self, message: str, epoch: int | None) -> None:
        super().__init__(message)
        self.epoch = epoch  # the epoch the refused write was made in


class SendDeferred(TransientError):
    pass


class OpenPGPUnavailable(TransientError):
    """gpg could not be run, or was stopped at its time limit; the same call may succeed later."""


class PermanentError(DisclosureInboxError):
    pass


class SecurityError(PermanentError):
    pass


class SendRejected(PermanentError):
    pass


class IllegalTransition(PermanentError):
    pass


class NotFound(PermanentError):
    pass


class DamagedStore(PermanentError):
    """A row names bytes (a blob, by sha256) that are not on disk, or whose sha256 is no
    longer theirs: restore the storage directory from the backup taken with the database."""


class CannotWrite(PermanentError):
    """A directory or file that staff asked for cannot be made; the reason is the system's."""


class KeyUnusable(PermanentError):
    """No usable OpenPGP key for a recipient (missing, expired, revoked, no encryption
    subkey), or the signing key cannot sign; the message says which."""


class RecipientKeyUnusable(KeyUnusable):
    """A recipient's key cannot encrypt (expired, revoked, no encryption subkey); the
    organisation's own key is not the trouble."""


class AlreadyRecorded(PermanentError):
    """A unique key refused the write: another instance recorded the same step first (an
    escalation in the ledger), so this one must not act on it."""


class UsageError(PermanentError):
    """Bad arguments that argparse cannot see (an unknown status, say): exit code 2."""
