"""``reports show`` as a table: each message's signature in one cell of the messages' grid."""

from __future__ import annotations

import re

from disclosure_inbox.tables import render_report

FINGERPRINT = "62CF0B2FD98F51244A5BF5A45DEAAD19F58C226E"


def _message(message_id: str, signature: dict[str, str] | None) -> dict[str, object]:
    return {
        "message_id": message_id,
        "direction": "inbound",
        "encryption": "decrypted" if signature else "none",
        "signature": signature,
        "body_text": "text",
    }


def test_the_signature_shows_as_its_status_and_fingerprint_whichever_message_comes_first():
    for messages in (
        [_message("<a>", {"fingerprint": FINGERPRINT, "status": "valid"}), _message("<b>", None)],
        [_message("<b>", None), _message("<a>", {"fingerprint": FINGERPRINT, "status": "valid"})],
    ):
        shown = render_report({"ref": "MIO-2026-0001", "messages": messages})
        assert re.search(r"^MESSAGE_ID +DIRECTION +ENCRYPTION +SIGNATURE$", shown, re.M)
        assert re.search(rf"^<a> +inbound +decrypted +valid {FINGERPRINT}$", shown, re.M)
        assert re.search(r"^<b> +inbound +none$", shown, re.M)
        assert "{" not in shown


def test_an_unknown_key_has_no_fingerprint_to_show():
    unknown = _message("<a>", {"fingerprint": None, "status": "unknown-key"})
    shown = render_report({"ref": "MIO-2026-0001", "messages": [unknown]})
    assert re.search(r"^<a> +inbound +decrypted +unknown-key$", shown, re.M)
