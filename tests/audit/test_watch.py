"""The watcher on the embedded chain: a compromised oracle posts a root that does not recompute, and
``watch_once`` vetoes it inside its challenge window; honest roots are left alone."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ledger.audit import (
    Auditor,
    ChainSnapshot,
    FolderManifests,
    MemoryManifests,
    Verdict,
    WatchAction,
    WatchState,
    audit,
    export_manifests,
    watch_once,
)
from ledger.chain.audit_view import ChainAuditView
from ledger.chain.gateway import DistributorGateway
from ledger.merkle import MerkleTree
from ledger.store.models import Epoch
from tests.audit.conftest import Honest
from tests.e2e.world import build_world

ATTACKER = "0x000000000000000000000000000000000000dEaD"


class CompromisedOracle(DistributorGateway):
    """Posts epoch ``target`` with a root paying the whole driving total to the attacker; everything else
    (totals, inputs root, secret, manifest hash) is the honest settlement's, so only the root is wrong."""

    target = 1

    def post_epoch(
        self,
        epoch: int,
        attempt: int,
        root: bytes,
        driving_total: int,
        cocreation_total: int,
        inputs_root: bytes,
        secret: bytes,
        manifest_hash: bytes,
    ) -> tuple[int, int]:
        if epoch == self.target:
            root = MerkleTree.build([(ATTACKER, driving_total)]).root
        return super().post_epoch(
            epoch, attempt, root, driving_total, cocreation_total, inputs_root, secret, manifest_hash
        )


def test_the_watcher_vetoes_a_root_that_does_not_recompute_within_the_window(tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    with build_world(tmp_path, cars=12, owners=5) as world:
        world.gateway = CompromisedOracle(world.system, world.gateway.oracle, world.gateway.journal)
        guardian = ChainAuditView(world.chain, world.system.record(), guardian=world.system.roles.guardian)
        observer = ChainAuditView(world.chain, world.system.record())
        manifests.mkdir()
        state = WatchState(Auditor(FolderManifests(manifests)))
        distributor = world.system.distributor.functions

        world.live_epoch(0)
        world.settle_after(0)
        export_manifests(world.sessions, manifests)
        first = watch_once(guardian, state, guardian)
        assert [(e.epoch, e.action) for e in first.events] == [(0, WatchAction.PASSED)]
        assert watch_once(guardian, state, guardian).events == ()  # each outcome is reported once

        world.live_epoch(1)
        world.settle_after(1)  # the compromised oracle posts epoch 1
        export_manifests(world.sessions, manifests)
        assert distributor.nextEpoch().call() == 2

        # Without a guardian key the watcher can only say so.
        unarmed = watch_once(observer, WatchState(Auditor(FolderManifests(manifests))), None)
        assert [(e.epoch, e.action) for e in unarmed.events] == [(1, WatchAction.UNVETOED)]
        assert distributor.nextEpoch().call() == 2

        posted = world.system.distributor.events.EpochPosted().get_logs(from_block=0)[-1]["args"]
        vetoing = watch_once(guardian, state, guardian)
        (event,) = vetoing.events
        assert (event.epoch, event.action) == (1, WatchAction.VETOED)
        assert event.difference is not None
        assert event.difference.field == "chain.root"
        assert event.difference.actual == "0x" + bytes(posted["root"]).hex()

        vetoes = world.system.distributor.events.EpochVetoed().get_logs(from_block=0)
        assert [(v["args"]["epoch"], bytes(v["args"]["root"])) for v in vetoes] == [
            (1, bytes(posted["root"]))
        ]
        assert vetoes[0]["args"]["guardian"] == world.system.roles.guardian
        veto_time = int(world.chain.w3.eth.get_block(vetoes[0]["blockNumber"])["timestamp"])
        assert veto_time < int(posted["claimableAt"]), "vetoed inside the challenge window"
        assert distributor.nextEpoch().call() == 1, "nextEpoch rolled back to the vetoed epoch"
        assert distributor.epochRecord(1).call()[0] == b"\x00" * 32

        # The next poll sees the veto and does nothing more; the audit reports the epoch as vetoed.
        assert watch_once(guardian, state, guardian).events == ()
        report = audit(observer, FolderManifests(manifests))
        assert [e.verdict for e in report.epochs] == [Verdict.PASS, Verdict.VETOED]
        assert report.ok
        assert report.to_json()["vetoed"] == [
            {
                "epoch": 1,
                "root": "0x" + bytes(posted["root"]).hex(),
                "guardian": world.system.roles.guardian,
                "reposted": False,
            }
        ]

        # The operator posts the honest root again: the repost is what is audited, the veto stays on record.
        with world.sessions() as session:
            stored = session.get(Epoch, 1)
            assert stored is not None
            honest_root = stored.root or ""
        DistributorGateway(world.system, world.gateway.oracle, world.gateway.journal).post_epoch(
            1,
            1,
            bytes.fromhex(honest_root[2:]),
            int(posted["drivingTotal"]),
            int(posted["cocreationTotal"]),
            bytes(posted["inputsRoot"]),
            bytes(posted["secret"]),
            bytes(posted["manifestHash"]),
        )
        reposted = watch_once(guardian, state, guardian)
        assert [(e.epoch, e.action) for e in reposted.events] == [(1, WatchAction.PASSED)]
        report = audit(observer, FolderManifests(manifests))
        assert [e.verdict for e in report.epochs] == [Verdict.PASS, Verdict.PASS]
        assert report.epochs[1].posting is not None
        assert report.epochs[1].posting.root.hex() == honest_root[2:]
        assert [v["reposted"] for v in report.to_json()["vetoed"]] == [True]


class FrozenChain:
    """The honest world's chain as of a chosen moment, for the watcher's timing rules."""

    def __init__(self, snapshot: ChainSnapshot) -> None:
        self.current = snapshot

    def snapshot(self) -> ChainSnapshot:
        return self.current


class RecordingGuardian:
    def __init__(self) -> None:
        self.vetoed: list[int] = []

    def veto(self, epoch: int) -> str:
        self.vetoed.append(epoch)
        return f"0xveto{epoch}"


def _during_window_of_last_epoch(honest: Honest, seconds_after_posting: int) -> ChainSnapshot:
    last = honest.snapshot.postings[-1]
    return replace(honest.snapshot, timestamp=last.at.timestamp + seconds_after_posting)


def _without(honest: Honest, epoch: int) -> MemoryManifests:
    source = honest.source()
    return MemoryManifests({e: raw for e in source.published() if e != epoch and (raw := source.get(e))})


def test_a_missing_manifest_gets_time_then_a_veto(honest: Honest) -> None:
    last = honest.snapshot.postings[-1].epoch
    chain = FrozenChain(_during_window_of_last_epoch(honest, 60))
    guardian = RecordingGuardian()
    state = WatchState(Auditor(_without(honest, last)), veto_missing_after=3600)

    early = watch_once(chain, state, guardian)
    assert [(e.epoch, e.action) for e in early.events] == [(last, WatchAction.WAITING)]
    assert guardian.vetoed == []

    chain.current = _during_window_of_last_epoch(honest, 3601)
    late = watch_once(chain, state, guardian)
    assert [(e.epoch, e.action) for e in late.events] == [(last, WatchAction.VETOED)]
    assert guardian.vetoed == [last]


def test_no_veto_once_the_window_has_closed_or_for_an_inherited_failure(honest: Honest) -> None:
    last = honest.snapshot.postings[-1]
    guardian = RecordingGuardian()
    closed = FrozenChain(replace(honest.snapshot, timestamp=last.claimable_at))
    assert watch_once(closed, WatchState(Auditor(_without(honest, last.epoch))), guardian).events == ()

    # Epoch 1 is final and unrecomputable: vetoing epoch 2 would fix nothing, so the watcher only says so.
    inherited = FrozenChain(_during_window_of_last_epoch(honest, 60))
    report = watch_once(inherited, WatchState(Auditor(_without(honest, 1))), guardian)
    assert [(e.epoch, e.action) for e in report.events] == [(last.epoch, WatchAction.UNAUDITABLE)]
    assert guardian.vetoed == []


def test_the_watcher_recomputes_only_new_postings(honest: Honest) -> None:
    source = honest.source()
    state = WatchState(Auditor(source))
    chain = FrozenChain(_during_window_of_last_epoch(honest, 60))
    watch_once(chain, state, None)
    # Every manifest is pinned by its posted hash now: a second poll needs none of them.
    state.auditor.manifests = MemoryManifests({})
    again = watch_once(chain, state, None)
    assert again.events == ()
    assert [e.verdict for e in again.report.epochs] == [Verdict.PASS] * len(honest.snapshot.postings)
