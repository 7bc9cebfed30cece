"""Parse steps that misbehave on purpose, for tests of the parse pool (``service.parsing``).

Each is a module-level function, so that a spawned worker can import it. A message carrying
``X-Test-Crash: yes`` ends its worker process at once, as a crash in a C extension would; one
carrying ``X-Test-Hang: yes`` never returns. Any other message is parsed as usual.
"""

from __future__ import annotations

import os
import time

from disclosure_inbox.domain.intake import Incoming
from disclosure_inbox.domain.model import RawMessage
from disclosure_inbox.service.parsing import prepare


def crash_or_hang(raw: RawMessage) -> Incoming:
    head = raw.raw[:4096]
    if b"X-Test-Crash: yes" in head:
        os._exit(3)
    if b"X-Test-Hang: yes" in head:
        time.sleep(3600)
    return prepare(raw)
