"""security.txt (RFC 9116): the file made from fields, and every rule of the lint, with the
time passed in."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from disclosure_inbox.domain.securitytxt import (
    RULES,
    Fields,
    Level,
    Signature,
    lint,
    mailto,
    parse,
    render,
)
from disclosure_inbox.domain.securitytxt.rules import Rule

NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
MAILBOX = "soc@m.io"
MIO = Fields(
    contacts=(mailto(MAILBOX),),
    expires=datetime(2027, 1, 1, tzinfo=UTC),
    encryption=("https://m.io/pgp-key.txt",),
    policy=("https://m.io/disclosure",),
    preferred_languages=("en",),
    canonical=("https://m.io/.well-known/security.txt",),
)
GOOD = render(MIO)


def signed(body: str, *, hash_header: str = "Hash: SHA512\r\n", after: str = "") -> str:
    """``body`` as a cleartext signed message (RFC 4880 section 7), with CRLF line ends."""
    escaped = "".join(
        ("- " + line if line.startswith("-") else line) + "\r\n" for line in body.splitlines()
    )
    return (
        "-----BEGIN PGP SIGNED MESSAGE-----\r\n"
        f"{hash_header}\r\n"
        f"{escaped}"
        "-----BEGIN PGP SIGNATURE-----\r\n\r\n"
        "iHUEARYKAB0WIQSb2hB3yXe0kEa8FyZ8PRpWDOo8XAUCaGQ9HgAKCRB8PRpWDOo8\r\n"
        "=h1Zy\r\n"
        "-----END PGP SIGNATURE-----\r\n"
        f"{after}"
    )


def without(name: str, text: str = GOOD) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith(name))


def replaced(name: str, value: str, text: str = GOOD) -> str:
    return re.sub(rf"(?m)^{name}: .*$", f"{name}: {value}", text)


def findings(data: str | bytes, **kwargs: Any) -> list[tuple[str, str, str]]:
    return [
        (f.rule, f.where, f.message)
        for f in lint(
            data, mailbox=kwargs.pop("mailbox", MAILBOX), now=kwargs.pop("now", NOW), **kwargs
        )
    ]


def fired(data: str | bytes, **kwargs: Any) -> list[str]:
    return [rule for rule, _, _ in findings(data, **kwargs)]


# --- render ---------------------------------------------------------------------------------


def test_render_writes_one_field_a_line_in_order():
    assert GOOD == (
        "Contact: mailto:soc@m.io\n"
        "Expires: 2027-01-01T00:00:00Z\n"
        "Encryption: https://m.io/pgp-key.txt\n"
        "Policy: https://m.io/disclosure\n"
        "Preferred-Languages: en\n"
        "Canonical: https://m.io/.well-known/security.txt\n"
    )


def test_render_of_every_field_passes_the_lint():
    fields = Fields(
        contacts=(mailto(MAILBOX), "https://m.io/report", "tel:+1-201-555-0123"),
        # Any offset, written in UTC to the second.
        expires=datetime(2027, 1, 1, 2, 30, 15, 999, tzinfo=UTC) + timedelta(hours=-2),
        encryption=("https://m.io/pgp-key.txt", "openpgp4fpr:5f2de5521c63a801ab59ccb603d4"),
        policy=("https://m.io/disclosure",),
        preferred_languages=("en", "de", "pt-BR"),
        canonical=("https://m.io/.well-known/security.txt", "https://www.m.io/security.txt"),
        acknowledgments=("https://m.io/thanks",),
        hiring=("https://m.io/jobs",),
    )
    text = render(fields)
    assert "Expires: 2027-01-01T00:30:15Z\n" in text
    assert "Preferred-Languages: en, de, pt-BR\n" in text
    assert text.index("tel:") > text.index("https://m.io/report") > text.index("mailto:")
    assert findings(text) == []
    assert findings(GOOD) == []


def test_render_leaves_out_empty_fields_and_percent_encodes_the_address():
    text = render(Fields(contacts=(mailto("soc%x@m.io"),), expires=NOW + timedelta(days=90)))
    assert text == "Contact: mailto:soc%25x@m.io\nExpires: 2026-09-29T12:00:00Z\n"
    assert findings(text, mailbox="soc%x@m.io") == [] == fired(text, mailbox="SOC%X@M.IO")


def test_fields_refuse_what_would_break_the_file():
    with pytest.raises(ValueError, match="at least one Contact"):
        Fields(contacts=(), expires=NOW)
    with pytest.raises(ValueError, match="time zone"):
        Fields(contacts=("mailto:a@b",), expires=datetime(2027, 1, 1))
    with pytest.raises(ValueError, match="one-line"):
        Fields(contacts=("mailto:a@b",), expires=NOW, policy=("https://m.io\nContact: x",))


# --- every rule, alone ----------------------------------------------------------------------

SIGNED_GOOD = signed(GOOD)
FIRING: dict[str, tuple[str | bytes, dict[str, Any]]] = {
    "utf-8": (GOOD.encode() + b"# caf\xe9\n", {}),
    "byte-order-mark": ("\ufeff" + GOOD, {}),
    "content-type": (GOOD, {"content_type": "text/plain; charset=iso-8859-1"}),
    "line-separator": (GOOD + "# one\rtwo\n", {}),
    "final-line-end": (GOOD + "# no line end", {}),
    "size": (GOOD + "# " + "x" * 2100 + "\n", {}),
    "clearsign-frame": (signed(GOOD, hash_header=""), {"signature": Signature("valid")}),
    "signature": (SIGNED_GOOD, {"signature": Signature("invalid")}),
    "signature-unchecked": (SIGNED_GOOD, {}),
    "line-syntax": (GOOD + "Contact mailto:soc@m.io\n", {}),
    "space-after-colon": (GOOD + "Hiring:https://m.io/jobs\n", {}),
    "contact-required": (without("Contact"), {}),
    "contact-uri": (GOOD + "Contact: http://m.io/report\n", {}),
    "contact-mailbox": (replaced("Contact", "mailto:security@m.io"), {}),
    "expires-required": (without("Expires"), {}),
    "expires-once": (GOOD + "Expires: 2027-01-02T00:00:00Z\n", {}),
    "expires-format": (replaced("Expires", "2027-01-01"), {}),
    "expires-past": (replaced("Expires", "2026-06-01T00:00:00Z"), {}),
    "expires-soon": (replaced("Expires", "2026-07-15T00:00:00Z"), {}),
    "expires-far": (replaced("Expires", "2027-12-01T00:00:00Z"), {}),
    "languages-once": (GOOD + "Preferred-Languages: de\n", {}),
    "language-tags": (replaced("Preferred-Languages", "en, 12"), {}),
    "link-uris": (replaced("Policy", "http://m.io/disclosure"), {}),
    "canonical-when-signed": (signed(without("Canonical")), {"signature": Signature("valid")}),
}


def test_every_rule_has_a_firing_case():
    assert sorted(FIRING) == sorted(rule.name for rule in RULES)


def test_rule_names_are_unique_and_kebab_case():
    names = [rule.name for rule in RULES]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", name) for name in names)


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.name)
def test_rule_fires_alone_on_its_file(rule: Rule):
    data, kwargs = FIRING[rule.name]
    found = lint(data, mailbox=MAILBOX, now=NOW, **kwargs)
    assert [f.rule for f in found] == [rule.name]
    assert found[0].level is rule.level
    assert found[0].message


def test_a_signed_file_that_verifies_is_clean():
    assert findings(SIGNED_GOOD, signature=Signature("valid", "5F2DE552" * 5)) == []


def test_errors_fail_and_warnings_pass_except_expires_within_30_days():
    for name, (data, kwargs) in FIRING.items():
        (finding,) = lint(data, mailbox=MAILBOX, now=NOW, **kwargs)
        expected = finding.level is Level.ERROR or name == "expires-soon"
        assert finding.problem is expected, name


# --- the rules in detail --------------------------------------------------------------------


def test_field_names_are_case_insensitive_and_unknown_fields_are_allowed():
    text = (
        "contact: mailto:SOC@M.IO\n"
        "EXPIRES: 2027-01-01T00:00:00Z\n"
        "preferred-languages: EN\n"
        "CSAF: https://m.io/.well-known/csaf/provider-metadata.json\n"
        "X-Team: Mio Security, on call around the clock\n"
    )
    assert findings(text) == []
    assert [f.key for f in parse(text).fields][:2] == ["contact", "expires"]


def test_comments_blank_lines_and_crlf_are_fine():
    text = "# Mio\r\n\r\n" + GOOD.replace("\n", "\r\n") + "   \r\n#\r\n"
    assert findings(text) == []


def test_line_numbers_are_those_of_the_file():
    text = "# Mio\n\n" + GOOD + "not a field\n"
    assert findings(text) == [
        ("line-syntax", "line 9", "is not a field (Name: value), a comment or blank: 'not a field'")
    ]
    assert findings("# Mio\n" + replaced("Expires", "soon")) == [
        (
            "expires-format",
            "Expires",
            "line 3: 'soon' is not an RFC 3339 date-time such as 2027-04-30T00:00:00Z",
        )
    ]


def test_a_field_needs_a_value_and_no_control_characters():
    assert findings(GOOD + "Hiring:\n") == [("line-syntax", "Hiring", "line 7: has no value")]
    assert fired(GOOD + "# bell \x07\n") == ["line-syntax"]
    assert fired(GOOD + "# tab\tis fine\n") == []


@pytest.mark.parametrize(
    "contact",
    [
        "mailto:soc@m.io",
        "mailto:soc%40m.io",  # percent-encoded (RFC 6068)
        "mailto:soc@m.io?subject=Security%20report",
        "mailto:lead@m.io,soc@m.io",  # one URI, two addresses
        "MAILTO:Soc@M.io",
    ],
)
def test_the_mailbox_is_found_in_any_mailto_form(contact):
    assert findings(replaced("Contact", contact)) == []


def test_the_mailbox_may_be_any_contact_in_the_list():
    text = "Contact: https://m.io/report\nContact: tel:+1-201-555-0123\n" + GOOD
    assert findings(text) == []


@pytest.mark.parametrize(
    ("contact", "why"),
    [
        ("http://m.io/report", 'does not begin with "https://"'),
        ("https:m.io/report", 'does not begin with "https://"'),
        ("ftp://m.io/report", "mailto:, https:// or tel:"),
        ("security@m.io", "write mailto:security@m.io"),
        ("mailto:a@m.io, mailto:b@m.io", "not one URI"),
    ],
)
def test_a_contact_is_a_mailto_https_or_tel_uri(contact, why):
    (found,) = findings(GOOD + f"Contact: {contact}\n")
    assert found[:2] == ("contact-uri", "Contact")
    assert why in found[2]


@pytest.mark.parametrize(
    "value",
    [
        "2027-01-01T00:00:00Z",
        "2027-01-01t00:00:00z",  # RFC 9116's own example is lower case
        "2027-01-01T02:00:00+02:00",
        "2027-01-01T00:00:00.000Z",
        "2026-12-31T23:59:60Z",  # a leap second
    ],
)
def test_expires_in_rfc_3339_forms(value):
    assert findings(replaced("Expires", value)) == []


@pytest.mark.parametrize(
    "value",
    ["2027-01-01", "2027-01-01T00:00:00", "2027-02-30T00:00:00Z", "Fri, 01 Jan 2027 00:00:00 GMT"],
)
def test_expires_not_in_rfc_3339_form(value):
    assert fired(replaced("Expires", value)) == ["expires-format"]


def test_expires_boundaries_with_now_passed_in():
    expires = datetime(2027, 1, 1, tzinfo=UTC)
    at = {
        "the moment": (expires, ["expires-past"]),
        "a second before": (expires - timedelta(seconds=1), ["expires-soon"]),
        "30 days before": (expires - timedelta(days=30), ["expires-soon"]),
        "31 days before": (expires - timedelta(days=31), []),
        "365 days before": (expires - timedelta(days=365), []),
        "366 days before": (expires - timedelta(days=366), ["expires-far"]),
    }
    for name, (now, expected) in at.items():
        assert fired(GOOD, now=now) == expected, name
    (_, _, message) = findings(GOOD, now=expires + timedelta(days=3))[0]
    assert (
        message == "2027-01-01T00:00:00Z has passed (3 days ago): readers treat the file as stale"
    )
    (_, _, message) = findings(GOOD, now=expires - timedelta(days=1, hours=2))[0]
    assert message.startswith("2027-01-01T00:00:00Z is in 1 day, within 30 days")


def test_the_first_valid_expires_decides_when_there_are_several():
    text = GOOD + "Expires: 2020-01-01T00:00:00Z\n"
    assert fired(text) == ["expires-once"]


def test_preferred_languages_values():
    assert fired(replaced("Preferred-Languages", "en,de , pt-BR,zh-Hant-TW")) == []
    assert fired(replaced("Preferred-Languages", "en de")) == ["language-tags"]


def test_link_fields_hold_one_uri_and_web_uris_are_https():
    assert fired(replaced("Encryption", "openpgp4fpr:5f2de5521c63a801ab59ccb603d4")) == []
    assert fired(replaced("Encryption", "dns:5d2d37ab._openpgpkey.m.io?type=OPENPGPKEY")) == []
    assert fired(replaced("Encryption", "-----BEGIN PGP PUBLIC KEY BLOCK-----")) == ["link-uris"]
    assert fired(replaced("Canonical", "dns:m.io")) == ["link-uris"]
    for name in ("Acknowledgments", "Hiring"):
        assert fired(GOOD + f"{name}: http://m.io/x\n") == ["link-uris"]


def test_content_type_served():
    for fine in ("text/plain; charset=utf-8", 'Text/Plain;Charset="UTF-8"'):
        assert fired(GOOD, content_type=fine) == []
    for wrong in ("text/plain", "text/html; charset=utf-8", "application/octet-stream"):
        assert fired(GOOD, content_type=wrong) == ["content-type"]


def test_size_limits_readers_may_apply():
    assert fired(GOOD + "# x\n" * 1000) == ["size"]
    assert fired(GOOD + ("# " + "x" * 1000 + "\n") * 33) == ["size"]


# --- clearsigned files ----------------------------------------------------------------------


def test_a_clearsigned_file_is_read_within_its_signed_body():
    document = parse(SIGNED_GOOD)
    assert document.signed and document.hash_headers == ("SHA512",)
    assert [f.name for f in document.fields] == [
        "Contact",
        "Expires",
        "Encryption",
        "Policy",
        "Preferred-Languages",
        "Canonical",
    ]
    assert document.fields[0].line == 4  # counted in the file, armor lines included


def test_dash_escaping_is_undone():
    # RFC 4880 7.1: a line starting with "-" is escaped as "- -..."; any other line may be.
    text = signed("-Team: Mio Security\n" + GOOD).replace("\r\nExpires:", "\r\n- Expires:")
    assert "\r\n- -Team: Mio Security\r\n" in text
    document = parse(text)
    assert [f.name for f in document.fields][:3] == ["-Team", "Contact", "Expires"]
    assert findings(text, signature=Signature("valid")) == []


def test_an_unescaped_dash_line_in_the_body_is_a_frame_error():
    text = SIGNED_GOOD.replace("Contact:", "-Contact:")
    assert "-Contact:" in text and "- -Contact:" not in text
    assert ("clearsign-frame", "file") in [
        f[:2] for f in findings(text, signature=Signature("valid"))
    ]


def test_text_outside_the_signed_message_is_not_read():
    # A Contact added after the signature is not part of the file: the signed body has none.
    text = signed(without("Contact"), after="Contact: mailto:soc@m.io\r\n")
    assert findings(text, signature=Signature("valid")) == [
        ("clearsign-frame", "line 14", "is outside the signed message: unsigned, and not read"),
        ("contact-required", "Contact", "is missing: a security.txt must name at least one"),
    ]


def test_a_clearsigned_file_without_its_signature_block():
    text = SIGNED_GOOD.split("-----BEGIN PGP SIGNATURE-----")[0]
    assert findings(text, signature=Signature("invalid"))[:1] == [
        (
            "clearsign-frame",
            "file",
            "clearsigned, but no BEGIN PGP SIGNATURE line: the signed message has no signature",
        )
    ]


def test_signature_findings_name_the_key():
    assert findings(SIGNED_GOOD, signature=Signature("unknown-key", "AB12CD34" * 5)) == [
        (
            "signature",
            "file",
            "signature is by " + "AB12CD34" * 5 + ", not by the organisation's key",
        )
    ]
    assert findings(SIGNED_GOOD) == [
        ("signature-unchecked", "file", "signature not checked: no [openpgp] configured")
    ]
    # An unsigned file has no signature to check, whatever the verifier says.
    assert findings(GOOD, signature=Signature("invalid")) == []
