"""The fields of the organisation's security.txt (RFC 9116), and the file they make.

``render`` writes one field a line, LF-terminated (section 2.2 allows LF or CRLF), in the
order the fields are listed in ``Fields``; ``Expires`` in UTC to the second, the profile of
ISO 8601 that RFC 3339 section 5.6 defines. For Mio:

    Contact: mailto:soc@m.io
    Expires: 2027-04-30T00:00:00Z
    Encryption: https://m.io/pgp-key.txt
    Policy: https://m.io/disclosure
    Preferred-Languages: en
    Canonical: https://m.io/.well-known/security.txt

The checks on single values live here too, so that the configuration refuses what the lint
would report: ``contact_problem``, ``uri_problem``, ``language_problem``, ``parse_expires``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote

# RFC 3339 section 5.6 date-time; "T" and "Z" may be lower case (section 5.6, note).
_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:(?P<second>\d{2})(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})"
)
# RFC 3986 section 3: a scheme, then only the characters a URI may hold (no spaces, so two
# values chained on one line are not one URI).
_URI = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
# RFC 5646 section 2.1, loosely: a primary language subtag, then subtags of up to 8.
_LANGUAGE_TAG = re.compile(r"(?:[A-Za-z]{2,8}|[IiXx])(?:-[A-Za-z0-9]{1,8})*")
CONTACT_SCHEMES = ("mailto", "https", "tel")


@dataclass(frozen=True, slots=True)
class Fields:
    """What the file says, each tuple in the order it is written (Contact: by preference)."""

    contacts: tuple[str, ...]
    expires: datetime
    encryption: tuple[str, ...] = ()
    policy: tuple[str, ...] = ()
    preferred_languages: tuple[str, ...] = ()
    canonical: tuple[str, ...] = ()
    acknowledgments: tuple[str, ...] = ()
    hiring: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.contacts:
            raise ValueError("a security.txt needs at least one Contact (RFC 9116 2.5.3)")
        if self.expires.tzinfo is None:
            raise ValueError("Expires needs a time zone offset")
        listed = (
            self.contacts
            + self.encryption
            + self.policy
            + self.preferred_languages
            + self.canonical
            + self.acknowledgments
            + self.hiring
        )
        for value in listed:
            if not value or value != value.strip() or any(c in value for c in "\r\n"):
                raise ValueError(f"not a one-line field value: {value!r}")

    def rows(self) -> list[tuple[str, str]]:
        """(name, value) for each line of the file, in order."""
        many = (
            ("Contact", self.contacts),
            ("Expires", (format_expires(self.expires),)),
            ("Encryption", self.encryption),
            ("Policy", self.policy),
            # One field whose value lists the tags (section 2.5.8: at most once).
            ("Preferred-Languages", (", ".join(self.preferred_languages),)),
            ("Canonical", self.canonical),
            ("Acknowledgments", self.acknowledgments),
            ("Hiring", self.hiring),
        )
        return [(name, value) for name, values in many for value in values if value]


def render(fields: Fields) -> str:
    return "".join(f"{name}: {value}\n" for name, value in fields.rows())


def format_expires(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_expires(value: str) -> datetime | None:
    """An RFC 3339 date-time, timezone-aware; None when ``value`` is not one."""
    match = _DATE_TIME.fullmatch(value.strip())
    if match is None:
        return None
    text = match.group().upper()
    if match.group("second") == "60":  # a leap second (RFC 3339 5.7): datetime has none
        text = text[: match.start("second")] + "59" + text[match.end("second") :]
    try:
        return datetime.fromisoformat(text)
    except ValueError:  # a 31st of February, an hour 25
        return None


def mailto(address: str) -> str:
    """A mailto: URI for one address (RFC 6068 section 2: "%" and the like percent-encoded)."""
    return "mailto:" + quote(address, safe="@!$'()*+;:=")


def mailto_addresses(uri: str) -> tuple[str, ...]:
    """The addresses of a mailto: URI, decoded and lower-cased; () for any other URI."""
    scheme, _, rest = uri.partition(":")
    if scheme.lower() != "mailto":
        return ()
    to = rest.partition("?")[0]
    return tuple(unquote(a).strip().lower() for a in to.split(",") if a.strip())


def uri_problem(value: str, *, https_only: bool = False) -> str | None:
    """Why ``value`` is not a URI for a field that links somewhere (Encryption, Policy, ...):
    a web URI must begin with "https://" (RFC 9116 2.5.1-2.5.7); ``https_only`` refuses any
    other scheme too."""
    match = _URI.fullmatch(value)
    if match is None:
        return "is not one URI (RFC 3986; one value per line)"
    scheme = match.group("scheme").lower()
    if scheme == "http" or (scheme == "https" and not value[6:].startswith("//")):
        return 'is a web URI that does not begin with "https://"'
    if https_only and scheme != "https":
        return 'must be a web URI beginning with "https://"'
    return None


def contact_problem(value: str) -> str | None:
    """Why ``value`` is not a Contact: a mailto:, https: or tel: URI (RFC 9116 2.5.3)."""
    if _URI.fullmatch(value) is None and "@" in value and ":" not in value:
        return f"is an address, not a URI: write mailto:{value}"
    problem = uri_problem(value)
    if problem is not None:
        return problem
    if value.partition(":")[0].lower() not in CONTACT_SCHEMES:
        return "must be a mailto:, https:// or tel: URI"
    return None


def language_problem(tag: str) -> str | None:
    if _LANGUAGE_TAG.fullmatch(tag) is None:
        return f"{tag!r} is not a language tag (RFC 5646) such as en or pt-BR"
    return None
