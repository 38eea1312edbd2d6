from __future__ import annotations

import base64

import pytest

from podwarden.engine.errors import ConfigurationError
from podwarden.engine.security.crypto import DecryptionError, SecretBox, SecretValue, decode_key, generate_key


def test_seal_and_open() -> None:
    box = SecretBox(b"k" * 32)
    blob = box.seal(b"hello", context="a")
    assert box.open(blob, context="a") == b"hello"
    assert box.seal(b"hello", context="a") != blob  # fresh nonce every time
    with pytest.raises(DecryptionError):
        box.open(blob, context="b")
    with pytest.raises(DecryptionError):
        SecretBox(b"j" * 32).open(blob, context="a")
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(DecryptionError):
        box.open(tampered, context="a")
    with pytest.raises(DecryptionError):
        box.open(b"\x01short", context="a")


def test_key_check() -> None:
    box = SecretBox(b"k" * 32)
    check = box.key_check()
    assert box.verify_key_check(check)
    assert not SecretBox(b"x" * 32).verify_key_check(check)


def test_key_formats() -> None:
    key = generate_key()
    assert len(decode_key(key, source="t")) == 32
    assert decode_key(key.rstrip("="), source="t") == decode_key(key, source="t")
    assert decode_key("ab" * 32, source="t") == bytes([0xAB]) * 32
    assert decode_key(base64.urlsafe_b64encode(b"z" * 32).decode() + "\n", source="t") == b"z" * 32
    for bad in ["", "short", base64.urlsafe_b64encode(b"z" * 31).decode(), "!" * 44]:
        with pytest.raises(ConfigurationError, match="not 32 bytes"):
            decode_key(bad, source="t")


def test_secret_value_is_masked() -> None:
    value = SecretValue("hunter2")
    assert (
        "hunter2" not in repr(value) and "hunter2" not in str(value) and "hunter2" not in f"{value!r}{value}"
    )
    assert value.reveal() == "hunter2" and value == SecretValue("hunter2") and value != SecretValue("x")
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(value)
    assert "k" * 5 not in repr(SecretBox(b"k" * 32))
