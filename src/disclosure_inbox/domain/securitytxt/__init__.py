"""security.txt (RFC 9116): the file the organisation publishes, and a lint for any such file.

``fields`` writes the file from its fields, ``document`` reads one into lines and fields (a
clearsigned file into its signed body), and ``rules`` is the lint's table.
"""

from disclosure_inbox.domain.securitytxt.document import Document, parse
from disclosure_inbox.domain.securitytxt.fields import Fields, format_expires, mailto, render
from disclosure_inbox.domain.securitytxt.rules import RULES, Finding, Level, Signature, lint

__all__ = [
    "RULES",
    "Document",
    "Fields",
    "Finding",
    "Level",
    "Signature",
    "format_expires",
    "lint",
    "mailto",
    "parse",
    "render",
]
