"""Sealing the text of sensitive messages (those that carry a password).

The outbox must hold the full text until the gateway has accepted it, and a retry or a
staff "send again" needs it after that; a database dump, a replica or a backup must
not show it. So the full text is encrypted with AES-GCM (authenticated: a tampered row
fails to open rather than sending garbage) and the readable `body` column holds a
copy with the secret masked. Once the message is delivered the sealed copy is erased,
so only the masked text is kept for the customer's history.

AES-GCM rather than Fernet: the bulk enqueue seals 100,000 invitations in a few
hundred milliseconds (Fernet's CBC + HMAC and base64 cost ten times as much).

The key is `MESSAGING_SEAL_KEY` (base64 of 32 bytes) when set, otherwise derived from
`SECRET_KEY` with HKDF, so rotating the secret key makes old sealed texts unreadable
(they are only needed until delivery).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

VERSION = b"\x01"
NONCE_BYTES = 12


class SealError(Exception):
    pass


@lru_cache(maxsize=4)
def _cipher(secret: str, explicit: str) -> AESGCM:
    if explicit:
        key = base64.urlsafe_b64decode(explicit)
        if len(key) != 32:
            raise SealError("MESSAGING_SEAL_KEY must be base64 of 32 bytes.")
    else:
        key = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=b"cskh-messaging",
            info=b"message-body-seal-v1",
        ).derive(secret.encode())
    return AESGCM(key)


def _current() -> AESGCM:
    return _cipher(settings.SECRET_KEY, getattr(settings, "MESSAGING_SEAL_KEY", ""))


def seal(text: str) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return VERSION + nonce + _current().encrypt(nonce, text.encode(), None)


def sealer() -> Callable[[str], bytes]:
    """`seal` for many texts in a row: the key is looked up once, nonces drawn in bulk."""
    encrypt = _current().encrypt
    nonces: list[bytes] = []

    def seal_one(text: str) -> bytes:
        if not nonces:
            pool = os.urandom(NONCE_BYTES * 1024)
            nonces.extend(
                pool[start : start + NONCE_BYTES]
                for start in range(0, len(pool), NONCE_BYTES)
            )
        nonce = nonces.pop()
        return VERSION + nonce + encrypt(nonce, text.encode(), None)

    return seal_one


def open_sealed(blob: bytes) -> str:
    blob = bytes(blob)
    if not blob or blob[:1] != VERSION:
        raise SealError("Unknown sealed text format.")
    nonce, ciphertext = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
    try:
        return _current().decrypt(nonce, ciphertext, None).decode()
    except InvalidTag as exc:
        raise SealError("The sealed text cannot be opened with this key.") from exc
