from __future__ import annotations

import codecs
import time

import pytest

from disclosure_inbox.domain.sanitize import defang
from disclosure_inbox.domain.triage.indicators import MAX_ITEMS, extract
from disclosure_inbox.domain.triage.model import Cvss, Indicators, Source
from disclosure_inbox.domain.triage.scope import host_in_scope, split_scope
from disclosure_inbox.domain.triage.sources import decode, is_text_attachment, text_sources

SCOPE = ("m.io", "*.m.io", "203.0.113.0/24", "2001:db8::1")

REPORT = """\
IDOR on hxxps://api.m[.]io/v2/users?id=2 (see CVE-2023-1234, CWE-639)
CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N
> GET /v2/users?id=2 HTTP/1.1
> Host: api.m.io
The PoC (poc.py) ran from 203.0.113.7 against www.example.pl, on nginx version 1.25.3.4;
reply to alice@reporter.example.
"""


def found(text: str) -> Indicators:
    return extract([Source("text", text)])


# --- the worked example -------------------------------------------------------------------


def test_the_worked_example_of_the_module_docstring() -> None:
    indicators = found(REPORT)

    assert indicators == Indicators(
        urls=("https://api.m.io/v2/users?id=2",),
        hosts=("api.m.io", "www.example.pl"),
        ips=("203.0.113.7",),
        emails=("alice@reporter.example",),
        cves=("CVE-2023-1234",),
        cwes=("CWE-639",),
        cvss=(Cvss("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", 6.5),),
        requests=("GET /v2/users?id=2 HTTP/1.1",),
    )
    assert split_scope(indicators, ("m.io", "*.m.io")) == (
        ("api.m.io",),
        ("www.example.pl", "203.0.113.7"),
    )


def test_lists_keep_the_order_of_first_appearance_across_sources() -> None:
    indicators = extract(
        [
            Source("subject", "XSS on b.m.io"),
            Source("text", "Seen on https://a.m.io/x, then b.m.io and a.m.io again."),
            Source("attachment:log.txt", "https://a.m.io/x https://c.m.io/"),
        ]
    )

    assert indicators.hosts == ("b.m.io", "a.m.io", "c.m.io")
    assert indicators.urls == ("https://a.m.io/x", "https://c.m.io/")


def test_nothing_found_in_plain_prose() -> None:
    assert found("Hello, I think I found a bug. Regards, Alice.") == Indicators()
    assert extract([]) == Indicators()


# --- URLs and hosts -----------------------------------------------------------------------


def test_urls_lose_the_punctuation_and_markup_around_them() -> None:
    indicators = found(
        "See https://a.m.io/x?y=1#z, and (https://b.m.io/p(1)) and <http://c.m.io/>. "
        "Also **https://d.m.io/d** and [link](https://e.m.io/e) and ftp://f.m.io/pub."
    )

    assert indicators.urls == (
        "https://a.m.io/x?y=1#z",
        "https://b.m.io/p(1)",
        "http://c.m.io/",
        "https://d.m.io/d",
        "https://e.m.io/e",
        "ftp://f.m.io/pub",
    )
    assert indicators.hosts == ("a.m.io", "b.m.io", "c.m.io", "d.m.io", "e.m.io", "f.m.io")


def test_a_url_host_drops_userinfo_and_port_and_may_be_any_valid_name() -> None:
    indicators = found(
        "http://user:pw@api.m.io@evil.example/ http://localhost:8080/ "
        "http://_dmarc.m.io/ HTTPS://API.M.IO./x http://[2001:db8::1]:8443/ http://10.1.2.3/"
    )

    assert indicators.hosts == ("evil.example", "localhost", "_dmarc.m.io", "api.m.io")
    assert indicators.ips == ("2001:db8::1", "10.1.2.3")


def test_a_url_nested_in_a_query_names_its_host_too() -> None:
    indicators = found(
        "https://m.io/login?next=https%3A%2F%2Fevil.example%2F and "
        "http://app.m.io/fetch?u=http://169.254.169.254/latest/meta-data/"
    )

    assert indicators.hosts == ("m.io", "evil.example", "app.m.io")
    assert indicators.ips == ("169.254.169.254",)
    assert len(indicators.urls) == 2


def test_a_host_header_names_a_host_even_without_a_dot() -> None:
    indicators = found("GET / HTTP/1.1\nHost: intranet\n\nHost: the attacker can ...\n")

    assert indicators.hosts == ("intranet",)


def test_bare_names_count_as_hosts_when_their_last_label_is_a_tld() -> None:
    indicators = found(
        "api.m.io, www.example.com and Example.COM. and sub.domain.co.uk; "
        "a name that ends a sentence: shop.example.de."
    )

    assert indicators.hosts == (
        "api.m.io",
        "www.example.com",
        "example.com",
        "sub.domain.co.uk",
        "shop.example.de",
    )


@pytest.mark.parametrize(
    "text",
    [
        "file.txt index.php config.json payload.js style.css archive.tar.gz",
        "e.g. i.e. etc. vs. a.m. p.m.",
        "1.2.3 and 10.4 and 2024.1.1.4.5",
        "poc.py main.rs README.md exploit.pl Foo.pm install.sh libx.so main.tf",
        "MANIFEST.in requirements.in login.do user.id params.at",
        "org.apache.commons.io com.example.app java.util.concurrent android.app",
        "self.app this.app window.location.host request.host console.log",
        "my_file.com x..com -a.com",
    ],
)
def test_file_names_code_and_numbers_are_not_hosts(text: str) -> None:
    assert found(text).hosts == ()


def test_an_ambiguous_country_code_counts_after_www_or_a_registry_label() -> None:
    indicators = found("www.example.pl and example.co.id and uni.ac.at, but not exploit.pl")

    assert indicators.hosts == ("www.example.pl", "example.co.id", "uni.ac.at")


def test_an_email_domain_is_not_a_host() -> None:
    indicators = found("Reply to alice@reporter.example or bob@mail.example.com.")

    assert indicators.hosts == ()
    assert indicators.emails == ("alice@reporter.example", "bob@mail.example.com")


# --- defanged input -----------------------------------------------------------------------


def test_defanged_links_and_addresses_are_refanged() -> None:
    indicators = found(
        "hxxps://evil[.]example[.]com/x HXXP://foo[.]m[.]io fxp://files[.]m[.]io/a "
        "hxxps[://]x[.]m[.]io/ hxxp[:]//y(.)m{.}io/ www[.]m[dot]io bob[at]example(dot)com "
        "carol[@]x[.]org 198[.]51[.]100[.]7"
    )

    assert indicators.urls == (
        "https://evil.example.com/x",
        "http://foo.m.io",
        "ftp://files.m.io/a",
        "https://x.m.io/",
        "http://y.m.io/",
    )
    assert indicators.hosts == (
        "evil.example.com",
        "foo.m.io",
        "files.m.io",
        "x.m.io",
        "y.m.io",
        "www.m.io",
    )
    assert indicators.emails == ("bob@example.com", "carol@x.org")
    assert indicators.ips == ("198.51.100.7",)


def test_text_defanged_by_sanitize_gives_the_same_indicators() -> None:
    text = "Visit https://www.example.com/a.b?c=d, mail a@b.example.org, see www.m.io."

    assert defang(text) != text
    assert found(defang(text)) == found(text)
    assert found(text).urls == ("https://www.example.com/a.b?c=d",)


def test_hxxp_in_prose_stays_a_word() -> None:
    assert found("the hxxp scheme and fxp").urls == ()


# --- addresses ----------------------------------------------------------------------------


def test_ipv4_addresses_are_validated_and_versions_left_out() -> None:
    indicators = found(
        "from 10.0.0.1, 192.168.1.254:8080, IP:172.16.0.9 and 999.1.1.1 and 01.2.3.4 and "
        "1.2.3.4.5 and version 1.2.3.4 and Version: 5.6.7.8 and v 4.4.4.4 and v1.2.3.4 "
        "and a server at 9.9.9.9."
    )

    assert indicators.ips == ("10.0.0.1", "192.168.1.254", "172.16.0.9", "9.9.9.9")


def test_ipv6_addresses_are_validated() -> None:
    indicators = found(
        "2001:db8::8a2e:370:7334 and [fe80::1] and ::1, but not 12:30:45, "
        "aa:bb:cc:dd:ee:ff, std::string, x[::2] or 2001:db8:::1"
    )

    assert indicators.ips == ("2001:db8::8a2e:370:7334", "fe80::1", "::1")


def test_email_addresses_are_lower_cased_and_validated() -> None:
    indicators = found(
        "Alice+bugs@Reporter.Example, first.last@sub.example.co.uk, mailto:bob@m.io, "
        "a@b, x@y.z, .bad@x.com, alice+bugs@reporter.example"
    )

    assert indicators.emails == (
        "alice+bugs@reporter.example",
        "first.last@sub.example.co.uk",
        "bob@m.io",
    )


# --- CVE, CWE and CVSS --------------------------------------------------------------------


def test_cve_and_cwe_ids_are_upper_cased_and_normalised() -> None:
    indicators = found(
        "CVE-2024-3094, cve-2021-44228, CVE-2024-12345 and CVE-2024-3094 again; not "
        "CVE-1990-1234, XCVE-2024-1111 or CVE-2024-12. CWE-79, cwe-089, CWE-1321."
    )

    assert indicators.cves == ("CVE-2024-3094", "CVE-2021-44228", "CVE-2024-12345")
    assert indicators.cwes == ("CWE-79", "CWE-89", "CWE-1321")


def test_a_cvss_3_1_vector_is_scored() -> None:
    indicators = found("Severity: CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H (critical).")

    assert indicators.cvss == (Cvss("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),)


def test_invalid_cvss_vectors_are_skipped() -> None:
    indicators = found(
        "CVSS:3.1/AV:N/AC:L (incomplete), "
        "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H (no such value), "
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/A:L (twice), "
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N (valid)"
    )

    assert indicators.cvss == (Cvss("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N", 5.3),)


def test_cvss_3_0_4_0_and_bare_vectors_are_scored() -> None:
    indicators = found(
        "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\n"
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N\n"
        "NVD v2: (AV:N/AC:L/Au:N/C:P/I:P/A:P)\n"
        "and a bare v3 vector AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N\n"
    )

    assert indicators.cvss == (
        Cvss("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
        Cvss("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3),
        Cvss("AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5),
        Cvss("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", 6.5),
    )


def test_the_same_vector_twice_is_listed_once() -> None:
    vector = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"

    assert len(found(f"{vector} and again {vector.lower()}").cvss) == 1


# --- request lines ------------------------------------------------------------------------


def test_http_request_lines_are_found_as_sent_printed_or_logged() -> None:
    indicators = found(
        "GET /api/user?id=2 HTTP/1.1\n"
        "> POST https://api.m.io/x HTTP/2\n"
        '203.0.113.9 - - [01/Jan/2026] "GET /index.html HTTP/1.0" 200\n'
        "curl -X DELETE  /a HTTP/1.1\n"
        "get /lower HTTP/1.1 and FORGET /x HTTP/1.1 and GET /x HTTP/9\n"
        "GET /api/user?id=2 HTTP/1.1\n"
    )

    assert indicators.requests == (
        "GET /api/user?id=2 HTTP/1.1",
        "POST https://api.m.io/x HTTP/2",
        "GET /index.html HTTP/1.0",
    )
    assert indicators.urls == ("https://api.m.io/x",)


# --- bounds -------------------------------------------------------------------------------


def test_each_list_keeps_at_most_max_items() -> None:
    text = " ".join(
        f"https://h{i}.m.io/ 10.0.{i // 250}.{i % 250} CVE-2024-{1000 + i}" for i in range(200)
    )

    indicators = found(text)

    assert len(indicators.urls) == MAX_ITEMS
    assert len(indicators.hosts) == MAX_ITEMS
    assert len(indicators.ips) == MAX_ITEMS
    assert len(indicators.cves) == MAX_ITEMS
    assert indicators.urls[0] == "https://h0.m.io/"


@pytest.mark.parametrize(
    "text",
    [
        "a." * 131_072,
        "1." * 131_072,
        "1" * 262_144,
        "a.b " * 65_536,
        ":" * 262_144,
        "a:" * 131_072,
        "@" * 262_144,
        "a@a." * 65_536,
        "http://a" * 32_768,
        'GET a"' * 43_690,
        "CVSS:3.1/" + "AV:N/" * 52_000,
        "[.]" * 87_381,
        "fe80::1 " * 32_768,
        "a" * 262_144 + "@m.io",
        "a-" * 131_072,
        "\nHost: " + "a" * 262_144,
    ],
)
def test_hostile_input_finishes_quickly(text: str) -> None:
    started = time.perf_counter()

    indicators = found(text)

    # The patterns are linear; a quadratic one would take minutes on 256 KB.
    assert time.perf_counter() - started < 5
    assert all(len(items) <= MAX_ITEMS for items in (indicators.hosts, indicators.ips))


# --- scope --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("m.io", True),
        ("M.IO.", True),
        ("api.m.io", True),
        ("a.b.m.io", True),
        ("evilm.io", False),
        ("m.io.evil.example", False),
        ("example.com", False),
        ("203.0.113.7", True),
        ("203.0.114.7", False),
        ("2001:db8::1", True),
        ("[2001:db8::1]", True),
        ("2001:db8::2", False),
        ("", False),
    ],
)
def test_host_in_scope(host: str, expected: bool) -> None:
    assert host_in_scope(host, SCOPE) is expected


def test_a_wildcard_covers_subdomains_but_not_the_domain_itself() -> None:
    assert host_in_scope("api.m.io", ["*.m.io"])
    assert host_in_scope("Deep.API.m.io", ["*.M.IO."])
    assert not host_in_scope("m.io", ["*.m.io"])


def test_an_ip_address_is_in_scope_only_when_listed() -> None:
    assert not host_in_scope("203.0.113.7", ["m.io", "*.m.io"])
    assert host_in_scope("203.0.113.7", ["203.0.113.7"])
    assert not host_in_scope("m.io", ["203.0.113.0/24"])


def test_split_scope_keeps_order_and_leaves_email_domains_out() -> None:
    indicators = found(
        "https://evil.example/x then api.m.io, m.io and 203.0.113.7 and 198.51.100.1; "
        "write to alice@reporter.example"
    )

    assert split_scope(indicators, SCOPE) == (
        ("api.m.io", "m.io", "203.0.113.7"),
        ("evil.example", "198.51.100.1"),
    )
    assert split_scope(indicators, ()) == ((), indicators.hosts + indicators.ips)


# --- sources ------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


def test_subject_text_and_text_attachments_are_sources_in_order() -> None:
    sources = text_sources(
        "XSS on app.m.io",
        "The search page reflects q; details in the log.",
        "<p>The search page reflects q; details in the log.</p>",
        [
            ("server.log", "application/octet-stream", b"GET /x HTTP/1.1 500"),
            ("capture.har", "application/json", b'{"log": {"entries": []}}'),
            ("poc.py", "text/x-python", b"import requests\n"),
            ("screenshot.png", "image/png", PNG),
            ("exploit.zip", "application/zip", b"PK\x03\x04"),
        ],
    )

    assert [(s.where, s.text) for s in sources] == [
        ("subject", "XSS on app.m.io"),
        ("text", "The search page reflects q; details in the log."),
        ("attachment:server.log", "GET /x HTTP/1.1 500"),
        ("attachment:capture.har", '{"log": {"entries": []}}'),
        ("attachment:poc.py", "import requests\n"),
    ]


def test_the_html_part_is_read_only_when_the_text_part_is_nearly_empty() -> None:
    html = "<p>XSS on https://app.m.io/search</p>"

    assert [s.where for s in text_sources("s", "", html, [])] == ["subject", "html"]
    assert [s.where for s in text_sources("s", " \n ", html, [])] == ["subject", "html"]
    assert [s.where for s in text_sources("", "See HTML.", html, [])] == ["text", "html"]
    long_text = "The search page reflects the q parameter without encoding it."
    assert [s.where for s in text_sources("", long_text, html, [])] == ["text"]


@pytest.mark.parametrize(
    ("filename", "content_type", "expected"),
    [
        ("notes.txt", "application/octet-stream", True),
        ("request.http", "", True),
        ("exploit.sh", "application/x-sh", True),
        ("Report.MD", "", True),
        ("trace", "text/plain; charset=utf-8", True),
        ("data", "application/json", True),
        ("feed", "application/atom+xml", True),
        ("x.unknown", "TEXT/CSV", True),
        ("data", "application/octet-stream", False),
        ("shot.png", "image/png", False),
        ("paper.pdf", "application/pdf", False),
        ("exploit.zip", "text/plain", False),
        ("backup.tar.gz", "application/gzip", False),
        ("tool.7z", "", False),
        ("icon.svg", "image/svg+xml", False),
        ("", "", False),
    ],
)
def test_which_attachments_are_read(filename: str, content_type: str, expected: bool) -> None:
    assert is_text_attachment(filename, content_type) is expected


def test_decoding_falls_back_from_utf8_to_latin1() -> None:
    assert decode("caf\u00e9 \u2713".encode(), 100) == "caf\u00e9 \u2713"
    assert decode(codecs.BOM_UTF8 + b"bom", 100) == "bom"
    assert decode(b"caf\xe9", 100) == "caf\u00e9"  # not UTF-8: Latin-1


def test_a_byte_order_mark_selects_utf16_or_utf32() -> None:
    text = "GET /caf\u00e9 HTTP/1.1"

    assert decode(codecs.BOM_UTF16_LE + text.encode("utf-16-le"), 100) == text
    assert decode(codecs.BOM_UTF16_BE + text.encode("utf-16-be"), 100) == text
    assert decode(codecs.BOM_UTF32_LE + text.encode("utf-32-le"), 100) == text


def test_binary_content_is_skipped_whatever_its_name() -> None:
    sources = text_sources(
        "",
        "",
        "",
        [("image.txt", "text/plain", PNG), ("utf16-without-bom.log", "", "ab".encode("utf-16-le"))],
    )

    assert sources == ()
    assert decode(b"abc\x00def", 100) is None


def test_a_character_cut_by_the_limit_is_dropped_not_mis_decoded() -> None:
    # For a limit of 2, the first 12 bytes are decoded: they end with half an "\u00e9",
    # which must not turn the whole text into Latin-1 ("\u00c3\u00a9a...").
    content = ("\u00e9" + "a" * 9 + "\u00e9" + "b" * 10).encode()

    assert content[:12].endswith(b"\xc3")
    assert decode(content, 2) == "\u00e9a"
    assert decode(("\u00e9" * 10).encode(), 4) == "\u00e9" * 4


def test_each_source_is_cut_at_the_limit_and_attachments_stop_at_four_limits() -> None:
    attachments = [(f"part{i}.txt", "text/plain", b"x" * 50) for i in range(10)]

    sources = text_sources("s" * 50, "t" * 50, "", attachments, limit=30)

    assert [len(s.text) for s in sources] == [30, 30, 30, 30]
    assert [s.where for s in sources][2:] == ["attachment:part0.txt", "attachment:part1.txt"]
    assert sum(len(s.text) for s in sources) <= 4 * 30


def test_the_last_attachment_is_cut_to_fit_the_total() -> None:
    attachments = [(f"part{i}.txt", "", b"x" * 25) for i in range(4)]

    sources = text_sources("s" * 30, "t" * 30, "", attachments, limit=30)

    assert [len(s.text) for s in sources] == [30, 30, 25, 25, 10]
    assert sources[-1].where == "attachment:part2.txt"


def test_sources_feed_extract() -> None:
    sources = text_sources(
        "Open redirect on m.io",
        "",
        "<a href='https://m.io/go?to=https://evil.example/'>PoC</a>",
        [("req.txt", "", b"GET /go?to=//evil.example HTTP/1.1\r\nHost: m.io\r\n")],
    )

    indicators = extract(sources)

    assert indicators.hosts == ("m.io", "evil.example")
    assert indicators.requests == ("GET /go?to=//evil.example HTTP/1.1",)
    assert split_scope(indicators, ["m.io"]) == (("m.io",), ("evil.example",))


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="limit"):
        text_sources("s", "t", "", [], limit=0)
