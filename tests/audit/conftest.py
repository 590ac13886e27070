"""One honest world for the audit tests, built once: a journaled embedded chain (so the CLI can replay it
from its data folder), three settled epochs, every owner's claim, a desk redemption, a buy-back and an
equity round.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

import tests.e2e.world as world_module
from ledger.audit import ChainSnapshot, FolderManifests, export_manifests
from ledger.chain import rpc
from ledger.chain.audit_view import ChainAuditView
from ledger.chain.client import ChainClient
from ledger.chain.deploy import System
from ledger.chain.embedded import EmbeddedChain
from ledger.claims import claim_many_args, tickets
from ledger.merkle import MerkleTree
from ledger.schedule import UNIT
from tests.chain.conftest import (  # noqa: F401  (the JSON-RPC adapter's Hardhat fixtures, shared)
    deployed,
    hardhat_url,
    keys,
    node,
    roles,
)
from tests.e2e.world import World, build_world

EPOCHS = 3
DAY = 86_400
MAX_UINT = 2**256 - 1
ITEM, ITEM_PRICE = 1, 2 * UNIT + 7  # not whole stones: statements must match to the base unit
PRICE_PER_STONE = 1_234_567  # settlement base units (6 decimals) per whole stone
ROUND_FUNDING = 1_000_000_007


@dataclass(frozen=True)
class Activity:
    """What owners did with their stones, for the statements' expected figures."""

    entitlements: dict[str, int]  # cumulative after the last epoch = what each owner claimed
    redeemer: str
    redeemed: int
    seller: str
    sold: int
    sale_payout: int
    round_claimer: str
    round_payout: int


@dataclass
class Honest:
    world: World
    data_dir: Path  # deployment.json and chain/journal.jsonl, as `yuanshi deploy` lays them out
    database: Path
    manifests: Path
    record: dict[str, Any]
    view: ChainAuditView
    snapshot: ChainSnapshot
    activity: Activity

    def source(self) -> FolderManifests:
        return FolderManifests(self.manifests)


def _typed(
    domain: str,
    chain: EmbeddedChain,
    contract: str,
    primary: str,
    fields: list[tuple[str, str]],
    message: dict[str, Any],
    signer: LocalAccount,
) -> bytes:
    signed = Account.sign_typed_data(
        signer.key,
        domain_data={
            "name": domain,
            "version": "1",
            "chainId": chain.chain_id,
            "verifyingContract": contract,
        },
        message_types={primary: [{"name": n, "type": t} for n, t in fields]},
        message_data=message,
    )
    return bytes(signed.signature)


def _claim_everything(world: World, relayer: str) -> dict[str, int]:
    with world.sessions() as session:
        batch = tickets(session, EPOCHS - 1)
    world.chain.send(world.system.distributor.functions.claimMany(*claim_many_args(batch)), relayer)
    return {t.account: t.cumulative for t in batch}


def _redeem(world: World, buyer: LocalAccount, relayer: str) -> None:
    chain, system = world.chain, world.system
    chain.send(system.desk.functions.setItem(ITEM, ITEM_PRICE, 5, True, b"\x01" * 32), system.roles.catalogue)
    deadline = chain.now() + DAY
    signature = _typed(
        "Yuanshi RedemptionDesk",
        chain,
        system.desk.address,
        "Order",
        [
            ("buyer", "address"),
            ("itemId", "uint256"),
            ("maxPrice", "uint256"),
            ("nonce", "uint256"),
            ("deadline", "uint256"),
        ],
        {"buyer": buyer.address, "itemId": ITEM, "maxPrice": ITEM_PRICE, "nonce": 0, "deadline": deadline},
        buyer,
    )
    chain.send(
        system.desk.functions.orderBySig(buyer.address, ITEM, ITEM_PRICE, deadline, signature), relayer
    )
    chain.send(system.desk.functions.fulfil(1), system.roles.fulfiller)


def _sell_back(world: World, seller: LocalAccount, stones: int, relayer: str) -> int:
    chain, system = world.chain, world.system
    treasurer = system.roles.treasurer
    chain.send(system.settlement.functions.mint(treasurer, 10**18), treasurer)
    chain.send(system.settlement.functions.approve(system.vault.address, MAX_UINT), treasurer)
    now = chain.now()
    chain.send(
        system.vault.functions.openBuyback(PRICE_PER_STONE, 1_000_000 * UNIT, now, now + DAY), treasurer
    )
    deadline = now + DAY
    signature = _typed(
        "Yuanshi EquityVault",
        chain,
        system.vault.address,
        "SellBack",
        [
            ("seller", "address"),
            ("buybackId", "uint256"),
            ("stones", "uint256"),
            ("minPayout", "uint256"),
            ("nonce", "uint256"),
            ("deadline", "uint256"),
        ],
        {
            "seller": seller.address,
            "buybackId": 1,
            "stones": stones,
            "minPayout": 0,
            "nonce": 0,
            "deadline": deadline,
        },
        seller,
    )
    chain.send(
        system.vault.functions.sellBackBySig(seller.address, 1, stones, 0, deadline, signature), relayer
    )
    return stones * PRICE_PER_STONE // UNIT


def _equity_round(world: World, holders: list[str], claimer: str, relayer: str) -> int:
    chain, system = world.chain, world.system
    record_date = chain.now() + 10
    chain.send(
        system.vault.functions.openRound(record_date, ROUND_FUNDING, record_date + 30 * DAY),
        system.roles.treasurer,
    )
    chain.travel_to(record_date + 1)
    balances = {h: int(system.token.functions.balanceOf(h).call()) for h in holders}
    tree = MerkleTree.build(sorted((h, b) for h, b in balances.items() if b > 0))
    eligible = sum(balances.values())
    chain.send(system.vault.functions.postBalanceRoot(1, tree.root, eligible), system.roles.oracle)
    chain.advance(system.params.challenge_window + 1)
    chain.send(system.vault.functions.claimRound(1, claimer, balances[claimer], tree.proof(claimer)), relayer)
    return ROUND_FUNDING * balances[claimer] // eligible


@pytest.fixture(scope="session")
def honest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Honest]:
    root = tmp_path_factory.mktemp("honest")
    data_dir = root / "var"
    journal = data_dir / "chain" / "journal.jsonl"
    with pytest.MonkeyPatch.context() as patch:
        # The e2e world runs on an in-memory chain; journaling it lets a second process replay it.
        patch.setattr(world_module, "EmbeddedChain", lambda: EmbeddedChain(journal))
        with build_world(root, cars=12, owners=5) as world:
            # Only this world's chain is journaled: worlds other tests build stay in memory.
            patch.undo()
            for epoch in range(EPOCHS):
                world.live_epoch(epoch)
                world.settle_after(epoch)
            world.chain.advance(world.gateway.challenge_window + 1)
            world.settler().run()
            relayer = world.chain.accounts[9]
            owners = world.fleet.owners
            entitlements = _claim_everything(world, relayer)
            _redeem(world, owners[0], relayer)
            sold = entitlements[owners[1].address] // 3
            payout = _sell_back(world, owners[1], sold, relayer)
            round_payout = _equity_round(world, [o.address for o in owners], owners[2].address, relayer)

            record = world.system.record()
            (data_dir / "deployment.json").write_text(json.dumps(record, indent=2) + "\n")
            manifests = root / "manifests"
            export_manifests(world.sessions, manifests)
            view = ChainAuditView(world.chain, record)
            activity = Activity(
                entitlements=entitlements,
                redeemer=owners[0].address,
                redeemed=ITEM_PRICE,
                seller=owners[1].address,
                sold=sold,
                sale_payout=payout,
                round_claimer=owners[2].address,
                round_payout=round_payout,
            )
            yield Honest(
                world, data_dir, root / "ledger.db", manifests, record, view, view.snapshot(), activity
            )


@pytest.fixture
def rpc_system(node: ChainClient, deployed: System) -> Iterator[System]:  # noqa: F811
    """The system deployed on the Hardhat node, every change a test makes undone afterwards."""
    mark = rpc.snapshot(node)
    yield deployed
    rpc.revert(node, mark)
