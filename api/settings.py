"""The API's settings, from ``YUANSHI_API_*`` environment variables (the ledger's own are ``YUANSHI_*``).

Rate limits are token buckets kept in each worker's memory: with N workers a client can reach N times a
limit. They protect the service from floods and one car or token from starving the rest; they are not a
quota. Set a rate to 0 to switch its limit off.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Final

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.config import LedgerSettings
from ledger.ingest import MAX_BATCH
from ledger.vehicles import MIN_SALT_BYTES

MIB: Final = 1024 * 1024


class ApiSettings(BaseSettings):
    """Limits, relaying and identity of the HTTP service."""

    model_config = SettingsConfigDict(env_prefix="YUANSHI_API_", extra="ignore")

    max_body_bytes: int = Field(
        default=4 * MIB, ge=1024, description="Largest request body accepted (413 beyond)"
    )
    max_batch: int = Field(
        default=MAX_BATCH, ge=1, le=MAX_BATCH, description="Most trip reports in one telemetry batch"
    )
    vehicle_burst: int = Field(default=1_000, ge=1, description="Reports a car may send at once")
    vehicle_per_minute: int = Field(
        default=60, ge=0, description="Reports a car may send per minute, sustained"
    )
    client_burst: int = Field(default=400, ge=1, description="Requests one client address may send at once")
    client_per_minute: int = Field(default=6_000, ge=0, description="Requests per client address per minute")
    token_burst: int = Field(default=200, ge=1, description="Requests one operator token may send at once")
    token_per_minute: int = Field(default=1_200, ge=0, description="Requests per operator token per minute")
    relayer_address: str | None = Field(
        default=None,
        description="Account paying gas for relayed requests; embedded chain default: test account 10",
    )
    relayer_keystore: Path | None = Field(
        default=None,
        description="Keystore of the relayer (JSON-RPC chains); its password is YUANSHI_KEYSTORE_PASSWORD",
    )
    operator_keystores: list[Path] = Field(
        default_factory=list,
        description="Keystores of the role keys the API sends with (fulfiller, catalogue, treasurer, oracle)",
    )
    idempotency_retention_s: int = Field(
        default=7 * 86_400, ge=3600, description="How long an Idempotency-Key's answer is kept"
    )


def vin_salt(settings: LedgerSettings) -> bytes:
    """The VIN hash salt: ``YUANSHI_VIN_SALT``, or one made once in the data folder (SQLite only).

    With a database server several machines may share one ledger, and a salt made on each would hash one
    VIN two ways, so a database URL requires the salt to be configured."""
    if settings.vin_salt is not None:
        salt = settings.vin_salt.get_secret_value().encode("utf-8")
        if len(salt) < MIN_SALT_BYTES:
            raise ValueError(f"YUANSHI_VIN_SALT must be at least {MIN_SALT_BYTES} bytes")
        return salt
    if settings.database_url is not None and not settings.database_url.startswith("sqlite"):
        raise ValueError("set YUANSHI_VIN_SALT: a shared database needs one salt for every worker")
    path = settings.data_dir / "vin_salt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another worker made it first: use theirs
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(32))
    return path.read_text().strip().encode("ascii")
