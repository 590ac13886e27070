"""The production path on a Hardhat node over JSON-RPC: ``yuanshi audit --chain-url`` passes an honestly
settled epoch with claims, and ``--watch --guardian-keystore`` vetoes a root the oracle forged."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from typer.testing import CliRunner

from ledger.chain import rpc
from ledger.chain.client import ChainClient
from ledger.chain.deploy import System
from ledger.drops import (
    CarInput,
    OwnershipSpan,
    PointsInput,
    draw_driving,
    epoch_seed,
    inputs_root,
    split_cocreation,
)
from ledger.manifest import EpochInputs, build_manifest, canonical_json, manifest_hash
from ledger.merkle import MerkleTree
from ledger.schedule import Pool, available_at_epoch_end
from tests.chain.conftest import Keys
from tests.contracts.helpers import commitment_for, epoch_end, secret_for
from yuanshi.cli import app

pytestmark = pytest.mark.node

ATTACKER = "0x000000000000000000000000000000000000dEaD"
PASSWORD = "guardian-test-password"


@dataclass
class Ledger:
    """A minimal honest settlement: one car owned by ``driver``, points for ``app_user``, every epoch."""

    system: System
    driver: str
    app_user: str
    carry: tuple[int, int] = (0, 0)
    totals: tuple[int, int] = (0, 0)
    cumulative: dict[str, int] = field(default_factory=dict)
    previous_hash: bytes | None = None

    def settle(self, epoch: int) -> tuple[dict[str, Any], bytes]:
        secret = secret_for(epoch)
        inputs = EpochInputs(
            (CarInput("car-1", 1_000_000),),
            (OwnershipSpan("car-1", self.driver, 0),),
            (PointsInput(self.app_user, 5),),
        )
        root_of_inputs = inputs_root(inputs.cars, inputs.ownership, inputs.points)
        seed = epoch_seed(secret, root_of_inputs)
        driving = draw_driving(epoch, seed, inputs.cars, inputs.ownership, self.carry[0])
        cocreation = split_cocreation(epoch, inputs.points, self.carry[1])
        for credits in (driving.credits, cocreation.credits):
            for account, amount in credits.items():
                self.cumulative[account] = self.cumulative.get(account, 0) + amount
        self.carry = (driving.carry_out, cocreation.carry_out)
        self.totals = (self.totals[0] + driving.allocated, self.totals[1] + cocreation.allocated)
        tree = MerkleTree.build(sorted(self.cumulative.items()))
        document = build_manifest(
            epoch=epoch,
            genesis=self.system.params.genesis,
            slot_seconds=self.system.params.slot_seconds,
            parameters={"shares_per_drop": 100, "weight_cap_metres": 5_000_000},
            commitment=commitment_for(epoch),
            secret=secret,
            inputs=inputs,
            inputs_root=root_of_inputs,
            seed=seed,
            driving=driving,
            cocreation=cocreation,
            driving_total=self.totals[0],
            cocreation_total=self.totals[1],
            root=tree.root,
            previous_manifest_hash=self.previous_hash,
        )
        self.previous_hash = manifest_hash(document)
        return document, tree.root


def advance_to(client: ChainClient, timestamp: int) -> None:
    if client.now() < timestamp:
        rpc.increase_time(client, timestamp - client.now())


def test_audit_and_veto_over_json_rpc(
    node: ChainClient, keys: Keys, rpc_system: System, hardhat_url: str, tmp_path: Path
) -> None:
    system = rpc_system
    distributor = system.distributor.functions
    ledger = Ledger(system, keys.alice.address, keys.bob.address)
    manifests, record = tmp_path / "manifests", tmp_path / "deployment.json"
    manifests.mkdir()
    record.write_text(json.dumps(system.record()))
    keystore = tmp_path / "guardian.json"
    guardian = keys.roles[2]
    assert guardian.address == system.roles.guardian
    keystore.write_text(json.dumps(Account.encrypt(guardian.key, PASSWORD, kdf="pbkdf2", iterations=2)))
    runner = CliRunner()

    # Epoch 0, settled honestly and claimed by both earners after the window.
    document, root = ledger.settle(0)
    (manifests / "0.json").write_bytes(canonical_json(document))
    advance_to(node, epoch_end(system, 0))
    node.send(
        distributor.postEpoch(
            0,
            root,
            *ledger.totals,
            bytes.fromhex(document["inputs_root"][2:]),
            secret_for(0),
            manifest_hash(document),
        ),
        system.roles.oracle,
    )
    rpc.increase_time(node, system.params.challenge_window)
    tree = MerkleTree.build(sorted(ledger.cumulative.items()))
    for account, amount in ledger.cumulative.items():
        node.send(distributor.claim(account, amount, tree.proof(account)), account)

    audited = runner.invoke(
        app,
        [
            "audit",
            "--manifests",
            str(manifests),
            "--chain-url",
            hardhat_url,
            "--deployment",
            str(record),
            "--json",
        ],
    )
    assert audited.exit_code == 0, audited.output
    summary = json.loads(audited.stdout)
    assert (summary["epochs"], summary["passed"], summary["failed"]) == (1, 1, [])

    # Epoch 1: the manifest is honest, the posted root pays the whole schedule to an attacker.
    document, _ = ledger.settle(1)
    (manifests / "1.json").write_bytes(canonical_json(document))
    advance_to(node, epoch_end(system, 1))
    forged_total = available_at_epoch_end(Pool.DRIVING, 1)
    node.send(
        distributor.postEpoch(
            1,
            MerkleTree.build([(ATTACKER, forged_total)]).root,
            forged_total,
            ledger.totals[1],
            bytes.fromhex(document["inputs_root"][2:]),
            secret_for(1),
            manifest_hash(document),
        ),
        system.roles.oracle,
    )
    assert distributor.nextEpoch().call() == 2

    watched = runner.invoke(
        app,
        [
            "audit",
            "--manifests",
            str(manifests),
            "--chain-url",
            hardhat_url,
            "--deployment",
            str(record),
            "--watch",
            "--guardian-keystore",
            str(keystore),
            "--max-polls",
            "1",
            "--json",
        ],
        env={"YUANSHI_KEYSTORE_PASSWORD": PASSWORD},
    )
    assert watched.exit_code == 1, watched.output
    (event,) = [json.loads(line) for line in watched.stdout.splitlines()]
    assert (event["epoch"], event["action"]) == (1, "vetoed")
    assert event["difference"]["field"] == "chain.driving_total"
    assert distributor.nextEpoch().call() == 1
    vetoes = system.distributor.events.EpochVetoed().get_logs(from_block=0)
    assert [(v["args"]["epoch"], v["args"]["guardian"]) for v in vetoes] == [(1, guardian.address)]
