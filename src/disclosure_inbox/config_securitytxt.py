"""The configuration's ``[security_txt]`` section: the fields of the organisation's RFC 9116
file, which ``disclosure-inbox security-txt`` prints.

    [security_txt]
    expires = 2027-04-30T00:00:00Z            # or a date: 2027-04-30 (its start, UTC)
    contact = ["https://m.io/report"]         # after mailto:[organization] mailbox_address
    encryption = "https://m.io/pgp-key.txt"
    policy = "https://m.io/disclosure"        # empty: [organization] policy_url
    preferred_languages = ["en"]
    canonical = ["https://m.io/.well-known/security.txt"]
    acknowledgments = "https://m.io/thanks"
    hiring = "https://m.io/jobs"

Every value is checked here as the lint checks it, so a valid section makes a file that
passes ``security-txt --check`` until 30 days before its Expires. (A Policy taken from
``[organization] policy_url`` is checked when the file is made.)
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from disclosure_inbox.domain.securitytxt.fields import (
    contact_problem,
    language_problem,
    parse_expires,
    uri_problem,
)


def _expires(value: Any) -> datetime:
    """A TOML date-time with an offset, a TOML date (its start, UTC), or either as text."""
    if isinstance(value, str):
        parsed = parse_expires(value)
        if parsed is None:
            try:
                value = date.fromisoformat(value.strip())
            except ValueError:
                raise ValueError(
                    f"{value!r} is not a date-time such as 2027-04-30T00:00:00Z or a date"
                ) from None
        else:
            value = parsed
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(
                "give the date-time an offset (2027-04-30T00:00:00Z or ...+02:00) or a date"
            )
        return value
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=UTC)
    raise ValueError("must be a date-time such as 2027-04-30T00:00:00Z or a date")


class SecurityTxt(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    expires: datetime
    # More Contact URIs, after the mailbox's mailto: (always the first, preferred one).
    contact: tuple[str, ...] = ()
    encryption: str = ""
    policy: str = ""
    preferred_languages: tuple[str, ...] = ()
    canonical: tuple[str, ...] = ()
    acknowledgments: str = ""
    hiring: str = ""

    @field_validator("expires", mode="before")
    @classmethod
    def _aware(cls, value: Any) -> datetime:
        return _expires(value)

    @field_validator("contact")
    @classmethod
    def _contacts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out = tuple(v.strip() for v in value)
        for uri in out:
            if problem := contact_problem(uri):
                raise ValueError(f"{uri!r} {problem}")
        return out

    @field_validator("encryption", "policy", "acknowledgments", "hiring")
    @classmethod
    def _link(cls, value: str) -> str:
        value = value.strip()
        if value and (problem := uri_problem(value)):
            raise ValueError(f"{value!r} {problem}")
        return value

    @field_validator("canonical")
    @classmethod
    def _canonical(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out = tuple(v.strip() for v in value)
        for uri in out:
            if problem := uri_problem(uri, https_only=True):
                raise ValueError(f"{uri!r} {problem}")
        return out

    @field_validator("preferred_languages")
    @classmethod
    def _languages(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out = tuple(v.strip() for v in value)
        for tag in out:
            if problem := language_problem(tag):
                raise ValueError(problem)
        return out
