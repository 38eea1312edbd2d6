"""AES-256-GCM sealing of secret values, and the masked value type.

A sealed blob is ``version(1) ‖ nonce(12) ‖ ciphertext+tag``. The secret's name
is bound in as associated data, so a blob copied onto another name does not
open.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets as _secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from podwarden.engine.errors import ConfigurationError

KEY_BYTES = 32
_BLOB_VERSION = b"\x01"
_NONCE_BYTES = 12
_KEY_CHECK_PLAINTEXT = b"podwarden master key check v1"
_KEY_CHECK_AAD = b"podwarden:key-check"


class SecretValue:
    """A secret string whose ``repr``/``str`` never show it. Call :meth:`reveal`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretValue('********')"

    def __str__(self) -> str:
        return "********"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SecretValue):
            return _secrets.compare_digest(self._value.encode(), other._value.encode())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("SecretValue", self._value))

    def __reduce__(self) -> tuple[object, ...]:  # no pickling secrets by accident
        raise TypeError("SecretValue cannot be pickled")


class DecryptionError(Exception):
    """A blob did not open with this key (wrong key or tampered data)."""


def generate_key() -> str:
    """A new master key as URL-safe base64 text (what users put in a key file)."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode()


def decode_key(text: str, *, source: str) -> bytes:
    """Decode a master key given as URL-safe base64 (padding optional) or 64 hex digits."""
    raw = text.strip()
    key: bytes | None = None
    if len(raw) == 2 * KEY_BYTES:
        try:
            key = bytes.fromhex(raw)
        except ValueError:
            key = None
    if key is None:
        try:
            key = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        except (binascii.Error, ValueError):
            key = None
    if key is None or len(key) != KEY_BYTES:
        raise ConfigurationError(
            f"The secret key from {source} is not 32 bytes of URL-safe base64 (or 64 hex digits); "
            "create one with `podwarden-engine generate-key`."
        )
    return key


class SecretBox:
    """Seals and opens secret values with one AES-256 key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError("AES-256 needs a 32-byte key")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    def seal(self, plaintext: bytes, *, context: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _BLOB_VERSION + nonce + self._aead.encrypt(nonce, plaintext, context.encode())

    def open(self, blob: bytes, *, context: str) -> bytes:
        if len(blob) < 1 + _NONCE_BYTES + 16 or blob[:1] != _BLOB_VERSION:
            raise DecryptionError("not a PodWarden secret blob")
        nonce, body = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, context.encode())
        except InvalidTag as exc:
            raise DecryptionError("the blob does not open with this key") from exc

    def seal_text(self, value: SecretValue | str, *, context: str) -> bytes:
        text = value.reveal() if isinstance(value, SecretValue) else value
        return self.seal(text.encode(), context=context)

    def open_text(self, blob: bytes, *, context: str) -> SecretValue:
        return SecretValue(self.open(blob, context=context).decode())

    def key_check(self) -> bytes:
        return self.seal(_KEY_CHECK_PLAINTEXT, context=_KEY_CHECK_AAD.decode())

    def verify_key_check(self, blob: bytes) -> bool:
        try:
            return self.open(blob, context=_KEY_CHECK_AAD.decode()) == _KEY_CHECK_PLAINTEXT
        except DecryptionError:
            return False
