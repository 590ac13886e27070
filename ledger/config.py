"""Settings from the environment (``YUANSHI_*``), with embedded defaults that need nothing installed."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class LedgerSettings(BaseSettings):
    """Where the ledger keeps its data and which chain it settles on."""

    model_config = SettingsConfigDict(env_prefix="YUANSHI_", extra="ignore")

    data_dir: Path = Field(default=Path("var"), description="SQLite file, chain journal, keys")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default: SQLite in data_dir")
    chain_url: str | None = Field(default=None, description="JSON-RPC URL; default: the embedded chain")
    keystore: Path | None = Field(default=None, description="Encrypted keystore of the oracle key (JSON-RPC)")
    keystore_password: SecretStr | None = Field(default=None, description="Password of the keystore")
    vin_salt: SecretStr | None = Field(default=None, description="VIN hash salt; default: made once")
    grace_seconds: int = Field(default=3600, ge=0, description="Late reports accepted after an epoch ends")
    seed_lookahead: int = Field(default=7, ge=1, le=60, description="Epochs whose seeds are committed ahead")
    weight_cap_metres: int = Field(default=5_000_000, gt=0, description="Mileage beyond this adds no weight")
    shares_per_drop: int = Field(default=100, gt=0, le=10_000, description="Shares drawn per 10-minute drop")
    confirmations: int = Field(default=1, ge=1, description="Blocks a posted root needs before it counts")

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'yuanshi.db').resolve()}"

    @property
    def chain_journal(self) -> Path:
        return self.data_dir / "chain" / "journal.jsonl"

    @property
    def deployment_file(self) -> Path:
        return self.data_dir / "deployment.json"
