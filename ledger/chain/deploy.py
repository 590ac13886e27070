"""Deploys the whole Yuanshi system and wires its roles (DESIGN §5)."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

from web3 import Web3
from web3.contract import Contract

from ledger.chain import artifacts
from ledger.chain.client import ChainClient

DAY = 86_400


@dataclass(frozen=True)
class RoleHolders:
    """One address per role; production keeps every one of them a different key."""

    admin: str
    oracle: str
    guardian: str
    pauser: str
    catalogue: str
    fulfiller: str
    treasurer: str
    recovery: str

    @classmethod
    def from_accounts(cls, accounts: list[str]) -> RoleHolders:
        """The first eight accounts, one role each (the embedded chain's pre-funded accounts)."""
        if len(accounts) < 8:
            raise ValueError(f"need 8 accounts for 8 roles, got {len(accounts)}")
        return cls(*accounts[:8])


@dataclass(frozen=True)
class DeployParams:
    genesis: int
    slot_seconds: int = 600
    challenge_window: int = DAY
    admin_delay: int = 3 * DAY
    recovery_delay: int = 7 * DAY
    cancel_timeout: int = 30 * DAY
    settlement_token: str | None = None  # None deploys the test settlement token


@dataclass
class System:
    """Handles to the deployed contracts."""

    client: ChainClient
    roles: RoleHolders
    schedule: Contract
    token: Contract
    distributor: Contract
    desk: Contract
    vault: Contract
    settlement: Contract
    deployed_at_block: int
    params: DeployParams
    gas_used: dict[str, int] = field(default_factory=dict)

    def addresses(self) -> dict[str, str]:
        return {
            "EmissionSchedule": self.schedule.address,
            "StoneToken": self.token.address,
            "RewardDistributor": self.distributor.address,
            "RedemptionDesk": self.desk.address,
            "EquityVault": self.vault.address,
            "SettlementToken": self.settlement.address,
        }

    def record(self) -> dict[str, Any]:
        """The deployment record: chain id, addresses, block, and the hash of each contract's runtime code."""
        w3 = self.client.w3
        code_hashes = {
            name: "0x" + hashlib.sha256(bytes(w3.eth.get_code(Web3.to_checksum_address(address)))).hexdigest()
            for name, address in self.addresses().items()
        }
        return {
            "chain_id": self.client.chain_id,
            "block": self.deployed_at_block,
            "addresses": self.addresses(),
            "code_sha256": code_hashes,
            "compiler": artifacts.build_info()["compiler"]["version"],
            "sources_hash": artifacts.build_info()["sourcesHash"],
            "roles": asdict(self.roles),
            "params": asdict(self.params),
        }


def role_id(name: str) -> bytes:
    return Web3.keccak(text=name)


def deploy_system(client: ChainClient, roles: RoleHolders, params: DeployParams) -> System:
    """Deploys schedule, token, distributor, desk and vault from the admin account and grants every role."""
    admin = roles.admin
    gas: dict[str, int] = {}

    def deploy(name: str, *args: Any) -> Contract:
        contract, receipt = client.deploy(name, admin, *args)
        gas[name] = int(receipt["gasUsed"])
        return contract

    schedule = deploy("EmissionSchedule", params.genesis, params.slot_seconds)
    token = deploy("StoneToken", admin, params.admin_delay, params.recovery_delay)
    distributor = deploy(
        "RewardDistributor",
        admin,
        params.admin_delay,
        token.address,
        schedule.address,
        params.challenge_window,
    )
    desk = deploy("RedemptionDesk", admin, params.admin_delay, token.address, params.cancel_timeout)
    if params.settlement_token is None:
        settlement = deploy("TestSettlementToken")
    else:
        settlement = client.contract("TestSettlementToken", params.settlement_token)
    vault = deploy(
        "EquityVault", admin, params.admin_delay, token.address, settlement.address, params.challenge_window
    )

    def send(fn: Any) -> None:
        receipt = client.send(fn, admin)
        gas["wiring"] = gas.get("wiring", 0) + int(receipt["gasUsed"])

    send(token.functions.setDistributor(distributor.address))
    send(token.functions.setEscrow(desk.address, True))
    send(token.functions.setEscrow(vault.address, True))
    send(token.functions.grantRole(role_id("RECOVERY_ROLE"), roles.recovery))
    for contract in (distributor, desk, vault):
        send(contract.functions.grantRole(role_id("PAUSER_ROLE"), roles.pauser))
    send(distributor.functions.grantRole(role_id("ORACLE_ROLE"), roles.oracle))
    send(distributor.functions.grantRole(role_id("GUARDIAN_ROLE"), roles.guardian))
    send(desk.functions.grantRole(role_id("CATALOGUE_ROLE"), roles.catalogue))
    send(desk.functions.grantRole(role_id("FULFILLER_ROLE"), roles.fulfiller))
    send(vault.functions.grantRole(role_id("TREASURER_ROLE"), roles.treasurer))
    send(vault.functions.grantRole(role_id("ORACLE_ROLE"), roles.oracle))
    send(vault.functions.grantRole(role_id("GUARDIAN_ROLE"), roles.guardian))

    return System(
        client=client,
        roles=roles,
        schedule=schedule,
        token=token,
        distributor=distributor,
        desk=desk,
        vault=vault,
        settlement=settlement,
        deployed_at_block=int(client.w3.eth.block_number),
        params=params,
        gas_used=gas,
    )


def load_system(client: ChainClient, record: dict[str, Any]) -> System:
    """Handles to a system deployed earlier, from its deployment record; refuses another chain's record."""
    if int(record["chain_id"]) != client.chain_id:
        raise ValueError(
            f"deployment record is for chain {record['chain_id']}, this chain is {client.chain_id}"
        )
    addresses = record["addresses"]
    system = System(
        client=client,
        roles=RoleHolders(**record["roles"]),
        schedule=client.contract("EmissionSchedule", addresses["EmissionSchedule"]),
        token=client.contract("StoneToken", addresses["StoneToken"]),
        distributor=client.contract("RewardDistributor", addresses["RewardDistributor"]),
        desk=client.contract("RedemptionDesk", addresses["RedemptionDesk"]),
        vault=client.contract("EquityVault", addresses["EquityVault"]),
        settlement=client.contract("TestSettlementToken", addresses["SettlementToken"]),
        deployed_at_block=int(record["block"]),
        params=DeployParams(**record["params"]),
    )
    for name, address in addresses.items():
        if not client.w3.eth.get_code(Web3.to_checksum_address(address)):
            raise ValueError(f"{name} has no code at {address} on this chain")
    return system
