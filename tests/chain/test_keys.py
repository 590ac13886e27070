"""The operator keystore: round trip, refusals with clear reasons, file mode, and no key in any text."""

from __future__ import annotations

import inspect
import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount

from ledger.chain.keys import (
    PASSWORD_ENV,
    KeystoreError,
    create_keystore,
    decrypt_keystore,
    load_operator_key,
)
from ledger.errors import YuanshiError

PASSWORD = "correct horse battery staple"


def fast_keystore(path: Path, password: str = PASSWORD) -> str:
    # Cheap key derivation keeps these tests fast; one test runs eth-account's production default.
    return create_keystore(path, password, kdf="pbkdf2", iterations=1000)


def key_spellings(account: LocalAccount) -> list[str]:
    """Every way the private key might be printed."""
    hex_key = bytes(account.key).hex()
    return [hex_key, hex_key.upper(), "0x" + hex_key, repr(bytes(account.key)), str(list(bytes(account.key)))]


def exception_texts(exc: BaseException) -> Iterator[str]:
    """str and repr of the exception and of everything chained to it."""
    seen: BaseException | None = exc
    while seen is not None:
        yield str(seen)
        yield repr(seen)
        yield repr(seen.args)
        seen = seen.__cause__ or seen.__context__


def assert_no_leak(texts: list[str], secrets: list[str]) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in text, "secret material appeared in text"


@pytest.fixture
def keystore(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "operator.json"
    return path, fast_keystore(path)


def test_round_trip_with_password_from_env(
    keystore: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, address = keystore
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)

    account = load_operator_key(path)

    assert account.address == address
    document = json.loads(path.read_text())
    assert document["address"].lower() == address[2:].lower()
    assert "crypto" in document
    assert bytes(account.key).hex() not in path.read_text(), "the file holds the key encrypted only"


def test_scrypt_round_trips_and_is_the_default(tmp_path: Path) -> None:
    path = tmp_path / "operator.json"
    # n = 2**12 here; the default, eth-account's n = 2**18, costs seconds of CPU per keystore.
    address = create_keystore(path, PASSWORD, kdf="scrypt", iterations=2**12)

    params = json.loads(path.read_text())["crypto"]
    assert (params["kdf"], params["kdfparams"]["n"]) == ("scrypt", 2**12)
    assert decrypt_keystore(path, PASSWORD).address == address
    defaults = inspect.signature(create_keystore).parameters
    assert (defaults["kdf"].default, defaults["iterations"].default) == ("scrypt", None)


def test_keystore_error_is_a_yuanshi_error() -> None:
    assert issubclass(KeystoreError, YuanshiError)


def test_wrong_password(keystore: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = keystore
    monkeypatch.setenv(PASSWORD_ENV, "not the password")

    with pytest.raises(KeystoreError, match=r"wrong password for keystore .*operator\.json") as refused:
        load_operator_key(path)
    assert_no_leak(list(exception_texts(refused.value)), ["not the password", PASSWORD])


def test_missing_password_env(keystore: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = keystore
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    with pytest.raises(KeystoreError, match=f"set {PASSWORD_ENV}"):
        load_operator_key(path)

    monkeypatch.setenv(PASSWORD_ENV, "")
    with pytest.raises(KeystoreError, match=f"{PASSWORD_ENV} is empty"):
        load_operator_key(path)


def test_never_overwrites(keystore: tuple[Path, str]) -> None:
    path, address = keystore
    before = path.read_bytes()

    with pytest.raises(KeystoreError, match="already exists; refusing to overwrite"):
        fast_keystore(path, "another password")

    assert path.read_bytes() == before
    assert decrypt_keystore(path, PASSWORD).address == address


def test_file_is_private_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        path = tmp_path / "keys" / "operator.json"
        fast_keystore(path)
    finally:
        os.umask(previous)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_empty_password_refused_at_creation(tmp_path: Path) -> None:
    with pytest.raises(KeystoreError, match="empty password"):
        create_keystore(tmp_path / "operator.json", "")
    assert not (tmp_path / "operator.json").exists()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "cannot read keystore"),
        (b"\xff\xfe not json", "not JSON"),
        (b'{"version": 3}', "no crypto section"),
        (b"[1, 2, 3]", "no crypto section"),
        (b'{"version": 3, "crypto": {"kdf": "argon2"}}', "not a supported Web3 Secret Storage keystore"),
        (b" " * (64 * 1024 + 1), "too large"),
    ],
)
def test_unreadable_keystores(tmp_path: Path, content: bytes | None, reason: str) -> None:
    path = tmp_path / "operator.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(KeystoreError, match=reason):
        decrypt_keystore(path, PASSWORD)


def test_a_directory_is_not_a_keystore(tmp_path: Path) -> None:
    with pytest.raises(KeystoreError, match="cannot read keystore"):
        decrypt_keystore(tmp_path, PASSWORD)


def test_edited_address_is_detected(keystore: tuple[Path, str], tmp_path: Path) -> None:
    path, _ = keystore
    document = json.loads(path.read_text())
    document["address"] = "11" * 20
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(document))

    with pytest.raises(KeystoreError, match=r"names address 1111.* but holds another key") as refused:
        decrypt_keystore(edited, PASSWORD)
    account = decrypt_keystore(path, PASSWORD)
    assert_no_leak(list(exception_texts(refused.value)), key_spellings(account))


def test_damaged_ciphertext_reads_as_a_wrong_password(keystore: tuple[Path, str], tmp_path: Path) -> None:
    path, _ = keystore
    document = json.loads(path.read_text())
    ciphertext = document["crypto"]["ciphertext"]
    document["crypto"]["ciphertext"] = ("0" if ciphertext[0] != "0" else "1") + ciphertext[1:]
    damaged = tmp_path / "damaged.json"
    damaged.write_text(json.dumps(document))

    with pytest.raises(KeystoreError, match="wrong password"):
        decrypt_keystore(damaged, PASSWORD)


def test_the_key_never_appears_in_reprs_logs_or_errors(
    keystore: tuple[Path, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path, _ = keystore
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    account = load_operator_key(path)
    secrets = [*key_spellings(account), PASSWORD]

    texts = [repr(account), str(account), format(account), caplog.text]
    texts += [record.getMessage() for record in caplog.records]
    for attempt in (
        lambda: decrypt_keystore(path, "wrong"),
        lambda: fast_keystore(path),
        lambda: decrypt_keystore(path.with_name("missing.json"), PASSWORD),
    ):
        with pytest.raises(KeystoreError) as refused:
            attempt()
        texts += exception_texts(refused.value)

    assert_no_leak(texts, secrets)
    # The logs do say which account was loaded from where.
    assert account.address in caplog.text
