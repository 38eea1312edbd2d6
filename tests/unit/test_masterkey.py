"""Where the master key comes from: variable, file, else the OS keyring."""

from __future__ import annotations

from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends.fail import Keyring as FailKeyring

from podwarden.engine.errors import ConfigurationError
from podwarden.engine.security.crypto import generate_key
from podwarden.engine.security.masterkey import load_master_key
from podwarden.engine.settings import Settings


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


@pytest.fixture
def memory_keyring():
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def test_variable_wins_over_file(tmp_path: Path) -> None:
    key, other = generate_key(), generate_key()
    (tmp_path / "key").write_text(other)
    settings = Settings(data_dir=tmp_path, secret_key=key, secret_key_file=tmp_path / "key")
    assert load_master_key(settings, create=False) != load_master_key(
        Settings(data_dir=tmp_path, secret_key_file=tmp_path / "key"), create=False
    )


def test_keyring_creates_once_then_reuses(tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    settings = Settings(data_dir=tmp_path)
    first = load_master_key(settings, create=True)
    assert len(first) == 32 and len(memory_keyring.store) == 1
    assert load_master_key(settings, create=False) == first
    other_folder = Settings(data_dir=tmp_path / "other")
    assert load_master_key(other_folder, create=True) != first  # one key per database


def test_no_keyring_says_what_to_do(tmp_path: Path) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(FailKeyring())
    try:
        with pytest.raises(ConfigurationError, match="PODWARDEN_SECRET_KEY_FILE"):
            load_master_key(Settings(data_dir=tmp_path), create=True)
    finally:
        keyring.set_keyring(previous)


def test_unreadable_or_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_master_key(Settings(data_dir=tmp_path, secret_key_file=tmp_path / "nope"), create=False)
    (tmp_path / "bad").write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigurationError, match="cannot be read"):
        load_master_key(Settings(data_dir=tmp_path, secret_key_file=tmp_path / "bad"), create=False)
