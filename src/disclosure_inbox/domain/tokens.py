"""Reply tokens: the report's reference and an expiry day, base32, with an HMAC-SHA256 over
them and the staff recipient (the first key signs)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime


def issue(keys: Sequence[bytes], report_ref: str, recipient: str, expires_at: datetime) -> str:
    day = int(expires_at.timestamp()) // 86400
    payload = f"{report_ref}.{day}".encode()
    mac = hmac.new(keys[0], payload + b"|" + recipient.lower().encode(), hashlib.sha256)
    body = base64.b32encode(payload).decode().rstrip("=").lower()
    return f"{body}-{mac.hexdigest()[:20]}"


def reply_address(template: str, token: str) -> str:
    return template.replace("{token}", token)
