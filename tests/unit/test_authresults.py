"""Authentication-Results header values, read into the tuples the staff rules take."""

from __future__ import annotations

import pytest

from disclosure_inbox.adapters.authresults import (
    MAX_HEADERS,
    MAX_VALUE_CHARS,
    read_authentication_results,
)
from disclosure_inbox.domain.staff import AuthResult, StaffEvidence, evaluate


def read(*values: str) -> tuple[AuthResult, ...]:
    parsed = read_authentication_results(values)
    assert parsed.unreadable == ()
    return parsed.results


def test_dkim_pass_with_header_d() -> None:
    assert read("mx.m.io; dkim=pass header.d=m.io") == (
        AuthResult("mx.m.io", "dkim", "pass", "m.io"),
    )


def test_header_i_gives_its_domain() -> None:
    assert read("mx.m.io; dkim=pass header.i=@m.io") == (
        AuthResult("mx.m.io", "dkim", "pass", "m.io"),
    )
    assert read("mx.m.io; dkim=pass header.i=bob@Mail.M.io")[0].domain == "mail.m.io"


def test_header_d_wins_over_header_i() -> None:
    [result] = read("mx.m.io; dkim=pass header.i=@eu.m.io header.d=m.io header.s=sel1")
    assert result.domain == "m.io"


def test_folded_header_with_comments() -> None:
    value = (
        "mx.m.io (Postfix);\r\n"
        "\tdkim=pass (2048-bit key; unprotected) header.d=m.io\r\n"
        '\theader.i=@m.io header.b="AbCd1234";\r\n'
        " spf=pass (mx.m.io: domain of bob@m.io designates 192.0.2.1)\r\n"
        "  smtp.mailfrom=bob@m.io"
    )
    assert read(value) == (
        AuthResult("mx.m.io", "dkim", "pass", "m.io"),
        AuthResult("mx.m.io", "spf", "pass", ""),
    )


def test_several_results_in_one_header() -> None:
    value = (
        'MX.M.IO 1; spf=softfail smtp.mailfrom=x.example; dkim=fail reason="bad sig" '
        "header.d=lists.example; dkim=pass header.d=M.IO; dmarc=pass header.from=m.io"
    )
    assert read(value) == (
        AuthResult("mx.m.io", "spf", "softfail", ""),
        AuthResult("mx.m.io", "dkim", "fail", "lists.example"),
        AuthResult("mx.m.io", "dkim", "pass", "m.io"),
        AuthResult("mx.m.io", "dmarc", "pass", ""),
    )


def test_several_headers_in_order_and_with_the_field_name() -> None:
    assert read(
        "Authentication-Results: mx.m.io; dkim=pass header.d=m.io",
        "mail.attacker.example; dkim=pass header.d=m.io",
        "mx.m.io; none",
    ) == (
        AuthResult("mx.m.io", "dkim", "pass", "m.io"),
        AuthResult("mail.attacker.example", "dkim", "pass", "m.io"),
    )


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        ";",
        "mx.m.io;",
        "mx.m.io; dkim=",
        "mx.m.io 2; dkim=pass header.d=m.io",  # an unknown version
        "mx.m.io; dkim=pass (unclosed comment header.d=m.io",
        "\x00\xff\u202e",
        "(" * 5000,
    ],
)
def test_garbage_is_left_out_and_named(garbage: str) -> None:
    parsed = read_authentication_results([garbage, "mx.m.io; dkim=pass header.d=m.io"])
    assert parsed.results == (AuthResult("mx.m.io", "dkim", "pass", "m.io"),)
    [why] = parsed.unreadable
    assert why.startswith("header 1: ")
    assert "\n" not in why and len(why) < 200


def test_deeply_nested_comments_are_not_parsed() -> None:
    value = "mx.m.io; dkim=pass " + "(" * 20 + ")" * 20 + " header.d=m.io"
    [why] = read_authentication_results([value]).unreadable
    assert "nested" in why


def test_too_long_and_too_many_headers() -> None:
    long = "mx.m.io; dkim=pass header.d=m.io " + "(x)" * MAX_VALUE_CHARS
    parsed = read_authentication_results([long])
    assert parsed.results == () and "longer" in parsed.unreadable[0]
    parsed = read_authentication_results(["mx.m.io; dkim=pass header.d=m.io"] * (MAX_HEADERS + 5))
    assert len(parsed.results) == MAX_HEADERS
    assert parsed.unreadable == (f"headers after the first {MAX_HEADERS} not read",)


def test_read_results_feed_the_staff_rules() -> None:
    headers = [
        "mail.attacker.example; dkim=pass header.d=m.io",
        "mx.m.io;\r\n dkim=pass header.i=@m.io",
    ]

    def verdict(trusted: frozenset[str]) -> str:
        results = read_authentication_results(headers).results
        return evaluate(
            StaffEvidence(
                from_address="bob@m.io",
                staff_addresses=frozenset({"bob@m.io"}),
                token_checks=(),
                auth_results=results,
                trusted_authserv_ids=trusted,
            )
        ).rule

    assert verdict(frozenset({"mx.m.io"})) == "dkim-aligned"
    assert verdict(frozenset({"other.m.io"})) == "untrusted-authserv"
