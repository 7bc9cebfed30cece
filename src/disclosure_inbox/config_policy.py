"""The configuration's policy sections: rate limits, loop defence, business days, SLA,
escalation tiers and the staff side. ``config.py`` reads the file and holds ``Settings``;
these are the parts of it that say how the organisation works rather than where its servers
are.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
)

from disclosure_inbox.domain.model import Severity


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Limits(_Section):
    """Rate limits on mail sent to reporters (loop defence)."""

    acks_per_sender_per_day: int = Field(default=3, ge=0)
    # Bound an auto-responder that answers from a new address on its domain every time.
    acks_per_domain_per_day: int = Field(default=20, ge=0)
    acks_per_report: int = Field(default=1, ge=0)
    # All acknowledgements together, whatever the senders: a flood of forged ones.
    acks_per_hour: int = Field(default=100, ge=0)


class Loops(_Section):
    """Loop defence: which mailing-list headers are the organisation's own."""

    # List-Ids (RFC 2919) of the organisation's own lists, e.g. the security address run as
    # a Google Group or a Mailman list: their List-Id, List-Unsubscribe and Precedence: list
    # do not make a report machine mail. Written as "security.m.io" or "<security.m.io>".
    own_list_ids: tuple[str, ...] = ()

    @field_validator("own_list_ids")
    @classmethod
    def _list_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        ids = tuple(v.strip().removeprefix("<").removesuffix(">").strip().lower() for v in value)
        for list_id in ids:
            if not re.fullmatch(r"[^\s<>@.]+(\.[^\s<>@.]+)+", list_id):
                raise ValueError(f'{list_id!r} is not a List-Id such as "security.example.com"')
        return ids


class Calendar(_Section):
    """Business days: the organisation's time zone is ``[organization] timezone``."""

    country: str | None = None  # ISO 3166-1 code for public holidays, e.g. "US", "DE"
    subdivision: str | None = None  # e.g. "CA", "BY"
    workdays: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    closures: tuple[date, ...] = ()  # extra days off (company holidays)

    # Each check names its own key. The time zone does not change what is valid here.
    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        from disclosure_inbox.domain.calendar import BusinessCalendar

        BusinessCalendar.build("UTC", value)
        return value

    @field_validator("subdivision")
    @classmethod
    def _known_subdivision(cls, value: str | None, info: ValidationInfo) -> str | None:
        from disclosure_inbox.domain.calendar import BusinessCalendar

        BusinessCalendar.build("UTC", info.data.get("country"), value)
        return value

    @field_validator("workdays")
    @classmethod
    def _known_workdays(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from disclosure_inbox.domain.calendar import BusinessCalendar

        BusinessCalendar.build("UTC", workdays=value)
        return value


class Sla(_Section):
    acknowledgement_business_days: int = Field(default=5, ge=1, le=365)
    # Severity -> business days from verification to resolution; 0 or absent: no clock.
    resolution_business_days: dict[Severity, int] = Field(
        default_factory=lambda: {Severity.CRITICAL: 5}
    )
    pause_in_needs_info: bool = True

    @field_validator("resolution_business_days")
    @classmethod
    def _non_negative(cls, value: dict[Severity, int]) -> dict[Severity, int]:
        for severity, days in value.items():
            if days < 0 or days > 365:
                raise ValueError(f"{severity}: business days must be between 0 and 365")
        return value


class Tier(_Section):
    name: str = Field(min_length=1, max_length=40)
    # Business days relative to the deadline: -1 one day before, 0 at it, +1 a day after.
    offset: int = Field(ge=-30, le=30)
    repeat: bool = False
    # Empty: [organization] staff_addresses.
    recipients: tuple[str, ...] = ()
    clocks: tuple[Literal["acknowledgement", "resolution"], ...] = ("acknowledgement", "resolution")


def _default_tiers() -> tuple[Tier, ...]:
    return (
        Tier(name="due-soon", offset=-1),
        Tier(name="overdue", offset=0),
        Tier(name="overdue-again", offset=1, repeat=True),
    )


class Escalation(_Section):
    scan_interval_seconds: float = Field(default=300.0, ge=1.0)
    # With digest on, a recipient with at least digest_min escalations in one scan gets one
    # mail listing them all instead of one mail each.
    digest: bool = True
    digest_min: int = Field(default=2, ge=2)
    tiers: tuple[Tier, ...] = Field(default_factory=_default_tiers)

    @field_validator("tiers")
    @classmethod
    def _unique_names(cls, value: tuple[Tier, ...]) -> tuple[Tier, ...]:
        names = [t.name for t in value]
        if len(names) != len(set(names)):
            raise ValueError("tier names must be unique")
        return value


def plain_addresses(value: tuple[str, ...]) -> tuple[str, ...]:
    """Addresses we write mail to and compare senders with: each a bare ASCII addr-spec
    (``lead@m.io``, not ``Lead <lead@m.io>``), lower-cased."""
    from disclosure_inbox.domain.replies import deliverable

    out = tuple(v.strip().lower() for v in value)
    for address in out:
        if not deliverable(address):
            raise ValueError(f'{address!r} is not a plain address such as "lead@m.io"')
    return out


class Staff(_Section):
    """Staff mail: who is told of each report, and how their replies are authenticated."""

    # Whether staff are told of each new report and each later message by mail.
    notify: bool = True
    # Who is told of each report. Empty: [organization] staff_addresses.
    recipients: tuple[str, ...] = ()
    # Reply-To of mail to staff; "{token}" becomes the reply token (subaddressing, RFC 5233).
    # Empty: the mailbox address with "+{token}" after its local part.
    reply_address: str = ""
    # Keys of the reply tokens, one a line: the first signs, every one verifies (a key
    # rotated out stays on a later line for token_days, then goes).
    token_secret: SecretStr | None = None
    token_days: int = Field(default=30, ge=1, le=365)
    # authserv-ids (RFC 8601) of the organisation's own mail servers, whose
    # Authentication-Results dkim=pass authenticates staff mail. Empty: only reply tokens do.
    trusted_authserv_ids: tuple[str, ...] = ()

    @field_validator("reply_address")
    @classmethod
    def _token_placeholder(cls, value: str) -> str:
        if value and (value.count("{token}") != 1 or not re.fullmatch(r"[^@\s]+@[^@\s]+", value)):
            raise ValueError('must be an address holding "{token}" once, e.g. "soc+{token}@m.io"')
        return value

    @field_validator("recipients")
    @classmethod
    def _bare_recipients(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return plain_addresses(value)

    @field_validator("trusted_authserv_ids")
    @classmethod
    def _lower(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(v.strip().lower() for v in value if v.strip())

    @property
    def token_keys(self) -> tuple[bytes, ...]:
        if self.token_secret is None:
            return ()
        lines = self.token_secret.get_secret_value().splitlines()
        return tuple(line.strip().encode() for line in lines if line.strip())
