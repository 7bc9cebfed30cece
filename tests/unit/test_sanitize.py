from __future__ import annotations

import base64
import email
import email.policy
import email.utils
import unicodedata
from email.message import EmailMessage

import pytest

from disclosure_inbox.domain.sanitize import (
    ELLIPSIS,
    TRUNCATION_MARKER,
    defang,
    defang_host,
    display_name_safe,
    header_safe,
    quote_for_text,
)

MB = 1_000_000


def b64_word(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode("utf-8")).decode("ascii") + "?="


def has_line_break_or_control(text: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Zl", "Zp", "Cs") for c in text)


def subject_round_trip(value: str) -> EmailMessage:
    """Put ``value`` into a real message, serialise it and parse the bytes back."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = "security@example.com"
    msg["To"] = "alice@reporter.example"
    msg["Subject"] = value
    msg.set_content("body")
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


INJECTIONS = [
    ("Re: hi\r\nBcc: victim@example.org", "Re: hi Bcc: victim@example.org"),
    ("Re: hi\nBcc: victim@example.org", "Re: hi Bcc: victim@example.org"),
    ("Re: hi\rBcc: victim@example.org", "Re: hi Bcc: victim@example.org"),
    ("Re: hi\x00Bcc: victim@example.org", "Re: hi Bcc: victim@example.org"),
    ("Re: hi\u2028Bcc: victim@example.org", "Re: hi Bcc: victim@example.org"),
    ("Re: hi\u2029Bcc: victim@example.org", "Re: hi Bcc: victim@example.org"),
    ("Re: hi\x85\x0b\x0c\x1cBcc: victim@example.org", "Re: hi Bcc: victim@example.org"),
    ("Re: hi\r\n\r\n\r\nbody text", "Re: hi body text"),
    ("=?utf-8?q?Re:_hi=0D=0ABcc:_victim@example.org?=", "Re: hi Bcc: victim@example.org"),
    ("=?UTF-8?Q?Re:_hi=0ABcc:_victim@example.org?=", "Re: hi Bcc: victim@example.org"),
    ("=?utf-8?q?Re:_hi=00Bcc:_victim@example.org?=", "Re: hi Bcc: victim@example.org"),
    ("=?utf-8?q?Re:_hi=E2=80=A8Bcc:_victim@example.org?=", "Re: hi Bcc: victim@example.org"),
    (b64_word("Re: hi\r\nBcc: victim@example.org"), "Re: hi Bcc: victim@example.org"),
    (
        "=?utf-8?q?Re:_hi=0D?= =?utf-8?q?=0ABcc:_victim@example.org?=",
        "Re: hi Bcc: victim@example.org",
    ),
    # A word inside a word: decoding once would leave an encoded line break behind.
    ("=?utf-8?q?=3D=3Futf-8=3Fq=3Fhi=3D0D=3D0ABcc:=5Fx=3F=3D?=", "hi Bcc: x"),
    ("=?iso-8859-1?q?Caf=E9=0D=0AX:_1?=", "Café X: 1"),
    ("=?utf-8*en?q?hi=0D=0AX:_1?=", "hi X: 1"),
]


@pytest.mark.parametrize(("value", "expected"), INJECTIONS)
def test_header_safe_removes_line_breaks_plain_and_encoded(value: str, expected: str) -> None:
    assert header_safe(value) == expected


@pytest.mark.parametrize(("value", "expected"), INJECTIONS)
def test_header_safe_value_stays_one_header_in_a_real_message(value: str, expected: str) -> None:
    parsed = subject_round_trip(header_safe(value))
    assert parsed["Subject"] == expected
    assert parsed["Bcc"] is None
    assert parsed["X"] is None
    assert parsed.get_content().strip() == "body"


def test_header_safe_collapses_whitespace_and_strips() -> None:
    assert header_safe("  Stored \t\t XSS\u00a0\u2003in   login  ") == "Stored XSS in login"


@pytest.mark.parametrize("value", ["", "   ", "\r\n\r\n", "\x00\x01\x7f\x9f", "=?utf-8?q?=0D=0A?="])
def test_header_safe_of_only_controls_is_empty(value: str) -> None:
    assert header_safe(value) == ""


def test_header_safe_removes_bidi_overrides_and_lone_surrogates() -> None:
    assert header_safe("invoice\u202efdp.exe") == "invoice fdp.exe"
    assert header_safe("a\u2066b\u2069c") == "a b c"
    assert header_safe("a\udc80b") == "a b"


def test_header_safe_limits_length_by_characters() -> None:
    cut = header_safe("é" * 10_000)
    assert len(cut) == 200
    assert cut == "é" * 199 + ELLIPSIS
    assert header_safe("x" * 50, limit=50) == "x" * 50
    assert header_safe("x" * 51, limit=50) == "x" * 49 + ELLIPSIS
    assert header_safe("ab cd", limit=4) == "ab" + ELLIPSIS


def test_header_safe_limits_encoded_values_by_decoded_length() -> None:
    value = " ".join([b64_word("word ")] * 5_000)
    assert header_safe(value, limit=30) == ("word " * 6)[:29].rstrip() + ELLIPSIS


def test_header_safe_rejects_a_limit_below_one() -> None:
    with pytest.raises(ValueError):
        header_safe("x", limit=0)


@pytest.mark.parametrize(
    "value",
    [
        "=?no-such-charset?q?hello?=",
        "=?rot13?q?hello?=",
        "=?hex?q?41?=",
        "=?zlib?b?eJwDAAAAAAE=?=",
        "=?utf-16?q?=00=D8?=",
        "=?utf-8?b?!!!not base64!!!?=",
        "=?utf-8?b?/w==?=",
        "=?utf-8?q?=ZZ=?=",
        "=?" * 10_000,
        "=?a?q?x" * 10_000,
    ],
)
def test_header_safe_never_raises_on_broken_encoded_words(value: str) -> None:
    result = header_safe(value)
    assert len(result) <= 200
    assert not has_line_break_or_control(result)


def test_header_safe_keeps_text_that_only_looks_encoded() -> None:
    assert header_safe("price =? 42 ?=") == "price =? 42 ?="


def test_header_safe_on_a_megabyte_of_hostile_input() -> None:
    assert header_safe(" " * MB + "x") == "x"
    assert header_safe("\r\n" * MB + "subject") == "subject"
    assert header_safe("=?utf-8?q?=0D=0A?=" * (MB // 18)) == ""


TEMPLATE_LOOKING = [
    "{{7*7}}",
    "{% raw %}{{ config }}{% endraw %}",
    "{{ ''.__class__.__mro__ }}",
    "${7*7} #{7*7} <%= 7*7 %>",
    "{#",
    "}}{{",
]


@pytest.mark.parametrize("text", TEMPLATE_LOOKING)
def test_template_looking_text_is_returned_literally(text: str) -> None:
    assert header_safe(text) == text
    assert defang(text) == text
    assert quote_for_text(text, 1000) == text
    assert display_name_safe(text) == text.replace("<", "").replace(">", "").strip()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            '"security@example.com" <attacker@evil.example>',
            "security at example.com attacker at evil.example",
        ),
        ("security@example.com", "security at example.com"),
        ("Boss <boss@example.com>", "Boss boss at example.com"),
        ("security\uff20example.com \uff1cx\uff1e", "security at example.com x"),
        ("security\ufe6bexample.com", "security at example.com"),
        ("Doe, Jane", "Doe, Jane"),
        ("Jos\u00e9 O'Neil (PGP)", "Jos\u00e9 O'Neil (PGP)"),
        ('a "quoted\\" name', "a quoted name"),
        ("=?utf-8?q?Eve=0D=0ABcc:_x@y?=", "Eve Bcc: x at y"),
        ("", ""),
    ],
)
def test_display_name_safe(name: str, expected: str) -> None:
    assert display_name_safe(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        '"security@example.com" <attacker@evil.example>',
        "a, b <c@d.example>, e@f.example",
        "x\r\nTo: victim@example.org",
        "Doe, Jane",
    ],
)
def test_display_name_safe_yields_exactly_our_address(name: str) -> None:
    header = email.utils.formataddr((display_name_safe(name), "security@example.com"))
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = header
    msg["To"] = "alice@reporter.example"
    msg.set_content("body")
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    addresses = email.utils.getaddresses([str(parsed["From"])])
    assert [address for _, address in addresses] == ["security@example.com"]
    assert parsed["To"] == "alice@reporter.example"


def test_display_name_safe_limits_length() -> None:
    assert display_name_safe("n" * 500, limit=10) == "n" * 9 + ELLIPSIS
    # NFKC may lengthen a name; the limit holds afterwards as well.
    assert len(display_name_safe("\ufdfa" * 50, limit=20)) == 20


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://example.com/x", "hxxps://example[.]com/x"),
        ("http://example.com", "hxxp://example[.]com"),
        ("ftp://files.example.org/pub/a.tar.gz", "fxp://files[.]example[.]org/pub/a.tar.gz"),
        ("HTTPS://Sub.Example.COM/Path.html", "HXXPS://Sub[.]Example[.]COM/Path.html"),
        (
            "see https://example.com/a.b?c=d.e#f.g now",
            "see hxxps://example[.]com/a.b?c=d.e#f.g now",
        ),
        ("https://example.com:8443/a.b", "hxxps://example[.]com:8443/a.b"),
        ("https://user:pw@host.example.com/", "hxxps://user:pw@host[.]example[.]com/"),
        ("https://example.com/?to=a@b.com", "hxxps://example[.]com/?to=a[@]b[.]com"),
        (
            "https://a.example/r?u=https://evil.example/x.y",
            "hxxps://a[.]example/r?u=hxxps://evil[.]example/x.y",
        ),
        ("a.example,https://evil.example", "a.example,hxxps://evil[.]example"),
        ("xhttps://evil.example", "xhxxps://evil[.]example"),
        ("http://192.168.0.1/admin", "hxxp://192[.]168[.]0[.]1/admin"),
        ("http://[::1]:8080/x.y", "hxxp://[::1]:8080/x.y"),
        ("<https://example.com/x>", "<hxxps://example[.]com/x>"),
        ("(https://example.com)", "(hxxps://example[.]com)"),
        ("Visit https://example.com.", "Visit hxxps://example[.]com."),
        ("https://example\u3002com/", "hxxps://example[.]com/"),
        ("url=https://evil.example/", "url=hxxps://evil[.]example/"),
        ("www.example.com/login.php", "www[.]example[.]com/login.php"),
        ("WWW2.example.com", "WWW2[.]example[.]com"),
        ("mail a@b.com.", "mail a[@]b[.]com."),
        ("first.last+tag@mail.example.co.uk", "first.last+tag[@]mail[.]example[.]co[.]uk"),
        ("mailto:sec@example.com", "mailto:sec[@]example[.]com"),
        ("thanks @alice and a@localhost", "thanks @alice and a@localhost"),
        ("v1.2.3, e.g. index.php and node.js", "v1.2.3, e.g. index.php and node.js"),
        ("hxxps://already[.]defanged[.]example/x", "hxxps://already[.]defanged[.]example/x"),
        ("hxxps://half.defanged.example/x", "hxxps://half[.]defanged[.]example/x"),
        ("a[@]b[.]com", "a[@]b[.]com"),
        ("line one\r\nhttps://a.example/\tx", "line one\r\nhxxps://a[.]example/\tx"),
        ("", ""),
    ],
)
def test_defang(text: str, expected: str) -> None:
    assert defang(text) == expected
    assert defang(expected) == expected


def test_defang_leaves_no_clickable_scheme_or_address() -> None:
    text = "Proof: https://evil.example/p?x=1, http://a.b, ftp://c.d, bob@evil.example, www.e.f"
    out = defang(text)
    lowered = out.lower()
    assert "http://" not in lowered
    assert "https://" not in lowered
    assert "ftp://" not in lowered
    assert "@evil.example" not in out
    assert "evil.example" not in out


@pytest.mark.parametrize(
    ("unit", "expected_unit"),
    [
        ("@", "@"),
        ("a", "a"),
        (".", "."),
        ("a@", "a@"),
        ("a.", "a."),
        ("-@-", "-@-"),
        ("a@b.c ", "a[@]b[.]c "),
        ("http://", "hxxp://"),
        ("https://a", "hxxps://a"),
        ("www.a", "www[.]a"),
        ("=?a?q?x", "=?a?q?x"),
    ],
)
def test_defang_on_a_megabyte_of_adversarial_input(unit: str, expected_unit: str) -> None:
    count = MB // len(unit)
    assert defang(unit * count) == expected_unit * count


def test_defang_on_a_megabyte_of_overlapping_candidates() -> None:
    count = MB // 4
    # Each domain runs up to the next "@", whose "a" before it still counts as a local part.
    assert defang("a@a." * count) == "a" + "[@]a[.]a" * (count - 1) + "@a."
    count = MB // 10
    # A host runs up to the next ":", so every other scheme ends up inside a host; all of
    # them lose their "tt" in the first pass regardless.
    assert defang("https://a." * count) == "hxxps://a[.]hxxps://a." * (count // 2)
    # One host that never ends; its last dot is punctuation, not part of it.
    assert defang("www." * count) == "www[.]" * (count - 1) + "www."


def test_defang_on_one_long_url_and_one_long_address() -> None:
    host = ".".join(["a"] * (MB // 2))
    assert defang("https://" + host + "/p.q") == "hxxps://" + host.replace(".", "[.]") + "/p.q"
    assert defang("x@" + host) == "x[@]" + host.replace(".", "[.]")
    path = "/" + "a." * (MB // 2)
    assert defang("http://h.example" + path) == "hxxp://h[.]example" + path


def test_quote_for_text_keeps_newlines_and_tabs_only() -> None:
    text = "line1\r\nline2\rline3\x00\x07\x1b[31mred\tcol\u2028line4\x85line5\x0cline6\u202ex"
    assert quote_for_text(text, 1000) == "line1\nline2\nline3[31mred\tcol\nline4\nline5\nline6x"


def test_quote_for_text_truncates_with_marker() -> None:
    body = "A" * 5000
    quoted = quote_for_text(body, 100)
    assert len(quoted) == 100
    assert quoted == "A" * (100 - len(TRUNCATION_MARKER)) + TRUNCATION_MARKER
    assert quote_for_text("short", 100) == "short"
    assert quote_for_text("x" * 100, 100) == "x" * 100


def test_quote_for_text_counts_after_cleaning() -> None:
    assert quote_for_text("\x00" * 500 + "hello", 10) == "hello"


def test_quote_for_text_rejects_a_limit_with_no_room_for_the_marker() -> None:
    with pytest.raises(ValueError):
        quote_for_text("text", len(TRUNCATION_MARKER))


def test_quote_for_text_after_defang_stays_within_limit() -> None:
    body = "see https://evil.example/x " * 1000
    quoted = quote_for_text(defang(body), 300)
    assert len(quoted) <= 300
    assert quoted.startswith("see hxxps://evil[.]example/x")
    assert "https://" not in quoted


@pytest.mark.parametrize(
    ("host", "shown"),
    [
        ("api.m.io", "api[.]m[.]io"),
        ("203.0.113.7", "203[.]0[.]113[.]7"),
        ("api[.]m[.]io", "api[.]m[.]io"),  # already defanged: unchanged
        ("2001:db8::1", "2001:db8::1"),
    ],
)
def test_defang_host_makes_a_bare_host_non_clickable(host: str, shown: str) -> None:
    assert defang_host(host) == shown
    assert defang_host(shown) == shown
