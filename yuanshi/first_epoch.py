"""The first-epoch walk-through run by ``yuanshi demo``: deploy, commit, post, wait out the window, claim.

Until the ledger's random drops land, the demo splits each pool's epoch budget pro rata to fixed weights;
every amount is still an integer, and the contract checks the totals against the schedule.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account

from ledger.chain.deploy import DeployParams, RoleHolders, System, deploy_system
from ledger.chain.embedded import EmbeddedChain
from ledger.merkle import MerkleTree
from ledger.merkle import keccak256 as keccak
from ledger.schedule import SLOTS_PER_EPOCH, Pool, available, available_at_epoch_end, era_of

DEMO_WEIGHTS = (5_000_000, 3_200_000, 1_800_000, 900_000, 100_000)  # metres driven, say
DEMO_POINTS = (40, 25, 0, 10, 25)


@dataclass
class FirstEpochReport:
    addresses: dict[str, str]
    chain_id: int
    genesis: int
    epoch: int
    era: int
    driving_total: int
    cocreation_total: int
    available_driving: int
    available_cocreation: int
    root: str
    balances: dict[str, int]
    total_supply: int
    gas: dict[str, int] = field(default_factory=dict)
    invariants_ok: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "addresses": self.addresses,
            "genesis": self.genesis,
            "epoch": self.epoch,
            "era": self.era,
            "root": self.root,
            "minted_driving": str(self.driving_total),
            "minted_cocreation": str(self.cocreation_total),
            "available_driving": str(self.available_driving),
            "available_cocreation": str(self.available_cocreation),
            "total_supply": str(self.total_supply),
            "accounts": len(self.balances),
            "balances": {a: str(b) for a, b in self.balances.items()},
            "gas": self.gas,
            "invariants_ok": self.invariants_ok,
        }


def split_pro_rata(budget: int, weights: tuple[int, ...]) -> list[int]:
    """Floors of ``budget * w / sum(weights)``; what the floors leave is not allocated (it carries)."""
    total = sum(weights)
    return [budget * w // total for w in weights] if total else [0] * len(weights)


def run_first_epoch() -> FirstEpochReport:
    chain = EmbeddedChain()
    roles = RoleHolders.from_accounts(chain.accounts)
    params = DeployParams(genesis=chain.now() + 60)
    system: System = deploy_system(chain, roles, params)
    gas = {f"deploy_{name}": used for name, used in system.gas_used.items()}

    epoch = 0
    secret = secrets.token_bytes(32)
    receipt = chain.send(system.distributor.functions.commitSeed(epoch, keccak(secret)), roles.oracle)
    gas["commit_seed"] = int(receipt["gasUsed"])

    # Owners need no ether: a relayer claims for them.
    owners = [Account.create().address for _ in DEMO_WEIGHTS]
    driving = split_pro_rata(available_at_epoch_end(Pool.DRIVING, epoch), DEMO_WEIGHTS)
    cocreation = split_pro_rata(available_at_epoch_end(Pool.COCREATION, epoch), DEMO_POINTS)
    entitlements = {owner: d + c for owner, d, c in zip(owners, driving, cocreation, strict=True)}
    tree = MerkleTree.build(list(entitlements.items()))

    end = params.genesis + (epoch + 1) * SLOTS_PER_EPOCH * params.slot_seconds
    chain.travel_to(end)
    receipt = chain.send(
        system.distributor.functions.postEpoch(
            epoch,
            tree.root,
            sum(driving),
            sum(cocreation),
            keccak(b"demo-inputs"),
            secret,
            keccak(b"demo-manifest"),
        ),
        roles.oracle,
    )
    gas["post_epoch"] = int(receipt["gasUsed"])
    chain.advance(params.challenge_window)

    accounts = list(entitlements)
    receipt = chain.send(
        system.distributor.functions.claimMany(
            accounts, [entitlements[a] for a in accounts], [tree.proof(a) for a in accounts]
        ),
        roles.admin,  # a relayer: anyone may claim for anyone, the stones go to the account
    )
    gas["claim_many"] = int(receipt["gasUsed"])

    balances = {a: int(system.token.functions.balanceOf(a).call()) for a in accounts}
    supply = int(system.token.functions.totalSupply().call())
    slots_now = (chain.now() - params.genesis) // params.slot_seconds
    ok = (
        balances == entitlements
        and supply == sum(driving) + sum(cocreation)
        and sum(driving) <= available(Pool.DRIVING, slots_now)
        and sum(cocreation) <= available(Pool.COCREATION, slots_now)
    )
    return FirstEpochReport(
        addresses=system.addresses(),
        chain_id=chain.chain_id,
        genesis=params.genesis,
        epoch=epoch,
        era=era_of(slots_now),
        driving_total=sum(driving),
        cocreation_total=sum(cocreation),
        available_driving=available_at_epoch_end(Pool.DRIVING, epoch),
        available_cocreation=available_at_epoch_end(Pool.COCREATION, epoch),
        root="0x" + tree.root.hex(),
        balances=balances,
        total_supply=supply,
        gas=gas,
        invariants_ok=ok,
    )
