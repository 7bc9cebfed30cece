"""Templates: bundled and operator copies, locales with English fallback, sandbox, escaping."""

from __future__ import annotations

import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from disclosure_inbox.adapters.render import Renderer

ACK = {
    "organization": "Mio",
    "mailbox": "soc@m.io",
    "policy_url": "https://m.io/disclosure",
    "ref": "MIO-2026-0001",
    "reporter_name": "<b>Ada</b>",
    "subject": "{{7*7}} {% raw %}",
    "received_at": "Wednesday 01 July 2026, 10:00 EDT",
    "due_at": None,
}


def test_bundled_acknowledgement_renders_data_literally_and_escapes_html():
    rendered = Renderer().render("reporter", "ack", ACK)
    assert "{{7*7}} {% raw %}" in rendered.text
    assert "49" not in rendered.text
    assert "within the time our policy promises" in rendered.text
    assert rendered.html is not None
    assert "&lt;b&gt;Ada&lt;/b&gt;" in rendered.html
    assert "<b>Ada</b>" not in rendered.html


def test_operator_directory_overrides_and_locale_falls_back_to_english(tmp_path):
    (tmp_path / "reporter").mkdir()
    (tmp_path / "reporter" / "ack.de.txt.j2").write_text("Danke, {{ ref }}.\n")
    german = Renderer(str(tmp_path), locale="de").render("reporter", "ack", ACK)
    assert german.text == "Danke, MIO-2026-0001.\n"
    assert german.html is not None  # no German HTML twin: the bundled English one
    french = Renderer(str(tmp_path), locale="fr").render("reporter", "ack", ACK)
    assert "Thank you for your report" in french.text
    staff = Renderer(str(tmp_path)).render(
        "staff",
        "alert",
        {
            "organization": "Mio",
            "mailbox": "soc@m.io",
            "imap": "imap:993",
            "last_success": "x",
            "failing_since": "y",
            "error": "z",
            "repeat": "6 hours",
        },
    )
    assert "cannot read its mailbox" in staff.text


def test_templates_are_sandboxed_and_strict(tmp_path):
    (tmp_path / "reporter").mkdir()
    (tmp_path / "reporter" / "ack.txt.j2").write_text("{{ ''.__class__.__mro__ }}")
    with pytest.raises(SecurityError):
        Renderer(str(tmp_path)).render("reporter", "ack", ACK)
    (tmp_path / "reporter" / "ack.txt.j2").write_text("{{ no_such_name }}")
    with pytest.raises(UndefinedError):
        Renderer(str(tmp_path)).render("reporter", "ack", ACK)
