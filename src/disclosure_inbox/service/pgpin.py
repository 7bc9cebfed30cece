"""OpenPGP in the parse step: an encrypted report is decrypted and read like any message, a
signature is checked, a public key the reporter sends is kept for their address.

``open_message`` takes the raw bytes, what the parser made of them and the keyring (None
without ``[openpgp]``) and returns the message as intake should read it, with:

- ``encryption``: ``none``; ``decrypted`` (the text, attachments and HTML are the
  plaintext's, parsed as any message is); or ``unreadable`` with ``problem``: the reason
  (``no-secret-key``, ``bad-passphrase``, ``corrupt``, ``too-large``, or
  ``no-openpgp-configured``). An unreadable message keeps its ciphertext as its text and is
  stored and filed all the same: staff are told, intake goes on.
- ``signature``: of PGP/MIME ``multipart/signed``, a clearsigned text or a signed-and-
  encrypted message: the signer's fingerprint and ``valid``, ``invalid`` or ``unknown-key``.
- ``keys``: the public keys it carried whose user IDs name the sender's address (a key for
  someone else is not taken from this sender); they are imported into the keyring first, so
  that a message signed with the key it brings verifies.

The raw message, ciphertext and all, stays the record (its blob is written before this runs).
A protected Subject inside the encryption is not moved into the report's subject, which
appears in the headers of mail we send: it becomes the first line of the text instead.
A gpg that cannot run raises ``OpenPGPUnavailable``: the parse step fails for this attempt and
intake tries the message again later (quarantined after ``[imap] max_attempts``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from disclosure_inbox.adapters.openpgp import OpenPGP
from disclosure_inbox.adapters.parse import parse_message
from disclosure_inbox.domain.model import ParsedMessage
from disclosure_inbox.domain.openpgp import Signature
from disclosure_inbox.domain.pgpmime import Found, detect

log = logging.getLogger(__name__)

NO_KEYRING = "no-openpgp-configured"
_MIME_HEAD = (b"content-type:", b"mime-version:", b"content-transfer-encoding:")


@dataclass(frozen=True, slots=True)
class OfferedKey:
    fingerprint: str
    uids: tuple[str, ...]
    armored: str


@dataclass(frozen=True, slots=True)
class Opened:
    parsed: ParsedMessage
    encryption: str = "none"  # none | decrypted | unreadable
    problem: str | None = None
    signature: Signature | None = None
    keys: tuple[OfferedKey, ...] = ()


def open_message(raw: bytes, parsed: ParsedMessage, pgp: OpenPGP | None) -> Opened:
    try:
        found = detect(raw)
    except Exception:  # looking for OpenPGP must never cost a message its intake
        log.exception("message %s: looking for OpenPGP failed; read as plain", parsed.message_id)
        return Opened(parsed)
    if not found:
        return Opened(parsed)
    keys = _take_keys(found, parsed.sender_address, pgp)
    encrypted = [f for f in found if f.kind == "encrypted"]
    if encrypted:
        if pgp is None:
            return Opened(parsed, "unreadable", NO_KEYRING, keys=keys)
        return _decrypt(parsed, encrypted, pgp, keys)
    if pgp is None:
        return Opened(parsed, keys=keys)
    text, signature = _verified(parsed.text, found, pgp)
    return Opened(replace(parsed, text=text), signature=signature, keys=keys)


def _decrypt(
    parsed: ParsedMessage, encrypted: list[Found], pgp: OpenPGP, keys: tuple[OfferedKey, ...]
) -> Opened:
    text, html, attachments = parsed.text, parsed.html, list(parsed.attachments)
    signature: Signature | None = None
    for found in encrypted:
        done = pgp.decrypt(found.data)
        if done.plaintext is None:
            log.warning("message %s: cannot decrypt: %s", parsed.message_id, done.failure)
            return Opened(parsed, "unreadable", done.failure, keys=keys)
        signature = signature or done.signature
        plaintext = done.plaintext
        if found.form == "pgp-mime" or plaintext.lstrip()[:40].lower().startswith(_MIME_HEAD):
            inner = parse_message(plaintext)
            inner_found = detect(plaintext)
            brought = _take_keys(inner_found, parsed.sender_address, pgp)
            keys += brought
            if brought and done.signature is not None and done.signature.status == "unknown-key":
                # Signed with the key it carries inside: check again, now that we have it.
                signature = pgp.decrypt(found.data).signature
            inner_text, inner_signature = _verified(inner.text, inner_found, pgp)
            signature = signature or inner_signature
            if inner.subject and inner.subject != parsed.subject:
                inner_text = f"Subject: {inner.subject}\n\n{inner_text}"
            if found.form == "pgp-mime":  # the outer parts are the version and the armor
                text, html, attachments = inner_text, inner.html, list(inner.attachments)
            else:
                text = _replace_block(text, found.data, inner_text)
                attachments = [a for a in attachments if a.filename != found.filename]
                attachments.extend(inner.attachments)
        else:
            shown = plaintext.decode("utf-8", errors="replace")
            if found.form == "attachment":
                attachments = [a for a in attachments if a.filename != found.filename]
                text = f"{text.rstrip()}\n\n[{found.filename}, decrypted]\n{shown}".lstrip()
            else:
                text = _replace_block(text, found.data, shown)
    opened = replace(parsed, text=text, html=html, attachments=tuple(attachments))
    return Opened(opened, "decrypted", signature=signature, keys=keys)


def _verified(text: str, found: tuple[Found, ...], pgp: OpenPGP) -> tuple[str, Signature | None]:
    """The first signature's verdict; a clearsigned block in the text becomes the text it
    vouches for (its armor and signature taken away)."""
    for item in found:
        if item.kind == "signed" and item.signature is not None:
            return text, pgp.verify_detached(item.data, item.signature)
        if item.kind == "clearsigned":
            signature = pgp.verify_clearsigned(item.data)
            vouched = pgp.decrypt(item.data)
            if vouched.plaintext is not None:
                text = _replace_block(text, item.data, vouched.plaintext.decode("utf-8", "replace"))
            return text, signature
    return text, None


def _take_keys(
    found: tuple[Found, ...], sender: str, pgp: OpenPGP | None
) -> tuple[OfferedKey, ...]:
    """The public keys offered for the sender's own address, imported into the keyring."""
    if pgp is None or not sender:
        return ()
    taken: list[OfferedKey] = []
    for item in found:
        if item.kind != "keys" or not item.data.lstrip().startswith(b"-----BEGIN PGP PUBLIC"):
            continue  # only armored keys are kept: the store keeps them as text
        offered = [k for k in pgp.scan_keys(item.data) if sender.lower() in k.addresses]
        if not offered:
            log.info("a key was offered by %s for another address; not taken", sender)
            continue
        imported = set(pgp.import_keys(item.data))
        armored = item.data.decode("ascii", errors="replace")
        taken.extend(
            OfferedKey(k.fingerprint, k.uids, armored) for k in offered if k.fingerprint in imported
        )
    return tuple(taken)


def _replace_block(text: str, block: bytes, plain: str) -> str:
    """``text`` with the armored ``block`` in it replaced by ``plain``; where the block is not
    found as written (the parser changed its line ends), ``plain`` is added after the text."""
    armored = block.decode("ascii", errors="replace").replace("\r\n", "\n").strip()
    flat = text.replace("\r\n", "\n")
    if armored and armored in flat:
        return flat.replace(armored, plain.strip(), 1)
    return f"{text.rstrip()}\n\n{plain}".lstrip()
