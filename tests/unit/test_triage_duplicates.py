"""Likely duplicates: MinHash signatures, the index keys and the ranking, as pure functions."""

from __future__ import annotations

from disclosure_inbox.domain.triage import duplicates, minhash
from disclosure_inbox.domain.triage.duplicates import Candidate

REPORT = (
    "Stored XSS in the profile name on app.m.io: the display name is rendered without "
    "escaping on the public profile page, so a name such as <img src=x onerror=alert(1)> "
    "runs script in the browser of every visitor who opens the profile."
)


def test_a_resend_with_small_edits_is_near_and_meets_in_the_index():
    edited = REPORT.replace("every visitor", "any visitor").replace("public", "shared")
    a, b = minhash.signature(REPORT), minhash.signature(edited)
    assert minhash.similarity(a, b) >= 0.5
    assert set(minhash.bands(a)) & set(minhash.bands(b))


def test_unrelated_texts_are_far_apart():
    other = (
        "The contact form on www.m.io has no captcha, so anyone can send thousands of "
        "messages to your support team with a simple loop in a shell script."
    )
    a, b = minhash.signature(REPORT), minhash.signature(other)
    assert minhash.similarity(a, b) < 0.2
    assert not set(minhash.bands(a)) & set(minhash.bands(b))


def test_too_little_text_has_no_signature_and_no_keys():
    assert minhash.signature("Hello, any update?") == ()
    assert minhash.bands(()) == ()


def test_japanese_text_is_shingled_by_character():
    text = "ログイン画面にてSQLインジェクションの脆弱性を発見しましたのでご報告いたします。"
    assert minhash.signature(text)
    assert minhash.similarity(minhash.signature(text), minhash.signature(text + "よろしく")) > 0.7


def test_signatures_survive_their_stored_form():
    sig = minhash.signature(REPORT)
    assert minhash.decode(minhash.encode(sig)) == sig
    assert minhash.decode("") == ()


def test_index_keys_name_cves_and_in_scope_paths_but_not_bare_hosts():
    keys = duplicates.index_keys(
        (),
        ["CVE-2024-3094"],
        ["https://app.m.io/api/users?id=2", "https://m.io/", "https://other.example/x"],
        ["app.m.io", "m.io"],
    )
    assert keys == ("cve:CVE-2024-3094", "at:app.m.io/api/users")


def test_rank_scores_the_worked_example_and_keeps_the_best_three():
    sig = minhash.signature(REPORT)
    near = tuple(v if i < 45 else v + 1 for i, v in enumerate(sig))  # 45 of 64 bins agree
    found = duplicates.rank(
        sig,
        [
            Candidate(1, "MIO-2026-0012", frozenset({"cve:CVE-2024-3094"}), near),
            Candidate(2, "MIO-2026-0013", frozenset({"at:app.m.io/profile"}), ()),
            Candidate(3, "MIO-2026-0014", frozenset({"cve:CVE-2024-3094"}), ()),
            Candidate(4, "MIO-2026-0015", frozenset({"mh:1:00"}), ()),  # a band, text far
        ],
    )
    assert [d.ref for d in found] == ["MIO-2026-0012", "MIO-2026-0013", "MIO-2026-0014"]
    assert found[0].score == 0.88
    assert found[0].reason == "near-duplicate text (0.70); same CVE CVE-2024-3094"
    assert found[1].reason == "same URL app.m.io/profile"
