"""disclosure-inbox: runs a security-disclosure mailbox."""

__version__ = "0.1.0"
