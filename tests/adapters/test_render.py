"""Templates: bundled and operator copies, locales with English fallback, sandbox, escaping."""

from __future__ import annotations

import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from disclosure_inbox.adapters.render import Renderer
from disclosure_inbox.config import ConfigError

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


def write(root, name: str, text: str) -> str:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def test_the_bundled_templates_pass_their_own_check():
    Renderer().check()
    Renderer(locale="de").check()


@pytest.mark.parametrize(
    ("name", "text", "line", "message"),
    [
        # An undefined name, the reported case: line 3 of a custom acknowledgement.
        ("reporter/ack.txt.j2", "Hello,\n\n{{ no_such_variable }}\n", 3, "'no_such_variable'"),
        ("reporter/ack.txt.j2", "Hello,\n{% if ref %}\n", 2, "syntax error"),
        # The HTML twin, and a locale that is not the configured one, are checked too.
        ("reporter/ack.html.j2", "<p>\n{{ ref.nope }}</p>\n", 2, "has no attribute 'nope'"),
        ("reporter/ack.fr.txt.j2", "Bonjour\n{{ ref }\n", 2, "syntax error"),
        # A branch that only runs when an optional value is empty.
        (
            "reporter/ack.txt.j2",
            "{% if due_at %}{{ due_at }}\n{% else %}\n{{ nope }}{% endif %}",
            3,
            "'nope' is undefined",
        ),
        ("staff/digest.txt.j2", "{% for i in items %}\n{{ i.severty }}{% endfor %}", 2, "severty"),
        ("staff/alert.txt.j2", "{{ error }}\n{{ 1 // 0 }}\n", 2, "ZeroDivisionError"),
        ("staff/escalation.txt.j2", "x\n{% include 'footer.j2' %}\n", 2, "not found: footer.j2"),
    ],
)
def test_check_names_the_broken_file_and_line(tmp_path, name, text, line, message):
    path = write(tmp_path, name, text)
    with pytest.raises(ConfigError) as raised:
        Renderer(str(tmp_path)).check()
    assert str(raised.value).startswith(f"template {path}, line {line}: ")
    assert message in str(raised.value)


def test_a_checked_renderer_keeps_what_it_checked(tmp_path):
    write(tmp_path, "reporter/ack.txt.j2", "Checked {{ ref }}.\n")
    renderer = Renderer(str(tmp_path), locale="de")
    renderer.check()
    # Edited, and a new locale added, after the check: neither renders until a new renderer.
    write(tmp_path, "reporter/ack.txt.j2", "{{ no_such_variable }}\n")
    write(tmp_path, "reporter/ack.de.txt.j2", "{{ no_such_variable }}\n")
    assert renderer.render("reporter", "ack", ACK).text == "Checked MIO-2026-0001.\n"
    with pytest.raises(ConfigError):
        Renderer(str(tmp_path), locale="de").check()


def test_the_bundled_renderer_ignores_the_operators_copies(tmp_path):
    write(tmp_path, "reporter/ack.txt.j2", "Custom {{ ref }}\n")
    renderer = Renderer(str(tmp_path))
    assert renderer.render("reporter", "ack", ACK).text == "Custom MIO-2026-0001\n"
    assert "Thank you for your report" in renderer.bundled().render("reporter", "ack", ACK).text
