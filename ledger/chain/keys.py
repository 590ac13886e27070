"""The operator's signing key, kept in an encrypted keystore file (Web3 Secret Storage, as geth writes it).

The password comes from the environment (:data:`PASSWORD_ENV`), never from a command line where ``ps``
shows it. The private key lives only inside the returned ``LocalAccount``: no message, log line or repr
made here contains it, nor the password.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Literal

from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.errors import YuanshiError

log = logging.getLogger(__name__)

PASSWORD_ENV = "YUANSHI_KEYSTORE_PASSWORD"

# A keystore is a few hundred bytes; anything far larger is not one, and is not worth reading into memory.
_MAX_KEYSTORE_BYTES = 64 * 1024


class KeystoreError(YuanshiError):
    """The keystore could not be read, decrypted or written; the message says which and why."""


def password_from_env() -> str:
    """The keystore password from :data:`PASSWORD_ENV`."""
    password = os.environ.get(PASSWORD_ENV)
    if password is None:
        raise KeystoreError(f"set {PASSWORD_ENV} to the operator keystore's password")
    if not password:
        raise KeystoreError(f"{PASSWORD_ENV} is empty; it must hold the operator keystore's password")
    return password


def load_operator_key(path: str | os.PathLike[str]) -> LocalAccount:
    """Decrypts the keystore at ``path`` with the password from :data:`PASSWORD_ENV`."""
    return decrypt_keystore(path, password_from_env())


def decrypt_keystore(path: str | os.PathLike[str], password: str) -> LocalAccount:
    """Decrypts the keystore at ``path`` with ``password``."""
    where = Path(path)
    keystore = _read_keystore(where)
    try:
        key = Account.decrypt(keystore, password)
    except ValueError as exc:
        # eth-keyfile reports a wrong password as "MAC mismatch"; any other ValueError is a damaged file.
        if "mac mismatch" in str(exc).lower():
            raise KeystoreError(f"wrong password for keystore {where}") from None
        raise KeystoreError(f"keystore {where} is damaged: {exc}") from None
    except (KeyError, TypeError, NotImplementedError) as exc:
        raise KeystoreError(
            f"{where} is not a supported Web3 Secret Storage keystore ({type(exc).__name__}: {exc})"
        ) from None
    account: LocalAccount = Account.from_key(key)
    stated = keystore.get("address")
    if isinstance(stated, str) and stated.lower().removeprefix("0x") != account.address[2:].lower():
        # The MAC covers only the ciphertext, so an edited address field would otherwise go unnoticed.
        raise KeystoreError(f"keystore {where} names address {stated} but holds another key")
    log.info("loaded operator key %s from %s", account.address, where)
    return account


def create_keystore(
    path: str | os.PathLike[str],
    password: str,
    *,
    kdf: Literal["scrypt", "pbkdf2"] = "scrypt",
    iterations: int | None = None,
) -> str:
    """Creates a new key, writes it encrypted to ``path`` (mode 0600) and returns its address.

    Refuses to overwrite an existing file: that file may hold the only copy of a key that owns funds or
    roles. ``kdf``/``iterations`` default to eth-account's (scrypt, n = 2**18); lower them only in tests.
    """
    if not password:
        raise KeystoreError("refusing to create a keystore with an empty password")
    where = Path(path)
    account: LocalAccount = Account.create()
    document = account.encrypt(password, kdf=kdf, iterations=iterations)
    payload = json.dumps(document).encode()
    where.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        # O_EXCL makes "does not exist yet" and "create" one step, so two operators cannot race to write.
        fd = os.open(where, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeystoreError(f"{where} already exists; refusing to overwrite a keystore") from None
    except OSError as exc:
        raise KeystoreError(f"cannot create keystore {where}: {exc.strerror}") from None
    try:
        # The umask can only remove permission bits; fchmod pins 0600 even if the file system ignored mode.
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        where.unlink(missing_ok=True)
        raise KeystoreError(f"cannot write keystore {where}: {exc.strerror}") from None
    log.info("created keystore %s for %s", where, account.address)
    return account.address


def _read_keystore(where: Path) -> dict[str, Any]:
    try:
        with where.open("rb") as source:
            raw = source.read(_MAX_KEYSTORE_BYTES + 1)
    except OSError as exc:
        raise KeystoreError(f"cannot read keystore {where}: {exc.strerror or exc}") from None
    if len(raw) > _MAX_KEYSTORE_BYTES:
        raise KeystoreError(f"{where} is too large to be a keystore")
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise KeystoreError(f"{where} is not a keystore: not JSON") from None
    if not isinstance(document, dict) or not isinstance(
        document.get("crypto") or document.get("Crypto"), dict
    ):
        raise KeystoreError(f"{where} is not a Web3 Secret Storage keystore: no crypto section")
    return document
