"""Equity-value rounds on the ``EquityVault``: record-date balances, their tree, the posted root, claims.

How a round runs (DESIGN §1, §5; ``docs/contracts.md``): the treasurer funds a round with a record date
(:func:`open_round`); after that date the ledger computes every holder's stone balance at the record date,
builds a tree of ``(account, balance)`` leaves, stores it and posts its root with the oracle key
(:func:`post_balance_root`); after the challenge window each holder can claim
``floor(funding * balance / totalEligible)`` once, until the deadline (:func:`claim_round`, relayed).

Record-date balances, the rule (the auditor recomputes it from public data):

* The record-date block is the last block whose timestamp is at most the record date. A balance at the
  record date is the balance after that block.
* Balances are folded from the token's ``Transfer`` events from deployment to that block (mints come from
  the zero address, burns go to it, recoveries are transfers), never read from ``balanceOf``, so the
  computation needs only logs, which every node serves, not historical state, which only archive nodes do.
* Accounts that are system escrows at the record date (the redemption desk and the vault, registered at
  deployment, changed by later ``EscrowSet`` events) are excluded: stones in escrow belong to an order or
  a sale in flight, not to a holder. Zero balances are left out; ``totalEligible`` is the sum of the rest.
* Leaves are OpenZeppelin StandardMerkleTree leaves, as for rewards (``ledger.merkle``).

A snapshot is stored once per round and reused; if the guardian vetoed the posted root, posting again
recomputes it (the result is a function of the chain, so it only changes if the chain's history did).

Sweeping (:func:`sweep_round`): from the claim deadline on, the treasurer returns what the round did not
pay (``funding - paid``) to an account of its choice, once. Before anything is sent, the ledger refuses a
sweep to a system contract, and one that could not be mined at or after the deadline (the next block is
at the chain's clock + 1 at the earliest). A round swept already to the same account answers that sweep
again (its amount, no transaction), so a retried request is harmless; to another account it is a
:class:`ConflictError`.

The settlement token (:func:`overview`) is whatever ERC-20 the vault was deployed with (the test token
tCNY, 6 decimals, on test chains); its address, symbol and decimals are read from the chain.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ledger.chain import views
from ledger.chain.views import SentTx, receipt_events
from ledger.errors import ConflictError, NotFoundError, ValidationError
from ledger.merkle import MerkleTree, proof_from_nodes
from ledger.relay import UINT64, Relay, TokenInfo, check_uint
from ledger.store.models import EquityBalance, EquitySnapshot
from ledger.vehicles import check_time, checksum_account

__all__ = [
    "EquityOverview",
    "RoundClaim",
    "RoundSweep",
    "RoundView",
    "Snapshot",
    "claim_round",
    "get_round",
    "open_round",
    "overview",
    "post_balance_root",
    "record_date_balances",
    "round_claim",
    "rounds",
    "snapshot",
    "sweep_round",
]

ZERO_ADDRESS: Final = "0x" + "00" * 20


@dataclass(frozen=True)
class RoundView:
    round_id: int
    record_date: int
    claim_deadline: int
    root_posted_at: int | None
    claimable_at: int | None
    swept: bool
    balance_root: str | None
    funding: int
    total_eligible: int
    paid: int


@dataclass(frozen=True)
class Snapshot:
    round_id: int
    record_date: int
    block: int
    root: str
    total_eligible: int
    holders: int


@dataclass(frozen=True)
class RoundClaim:
    """What ``account`` gets from a round: its record-date balance, the payout, the proof, and whether it
    has claimed already."""

    round_id: int
    account: str
    balance: int
    payout: int
    proof: tuple[bytes, ...]
    claimed: bool
    claimable_at: int | None
    claim_deadline: int


@dataclass(frozen=True)
class RoundSweep:
    """A round's unpaid rest returned to ``to``; ``tx`` None: it had been swept there already."""

    round_id: int
    to: str
    amount: int
    tx: SentTx | None


@dataclass(frozen=True)
class EquityOverview:
    vault: str
    settlement_token: TokenInfo
    challenge_window: int
    rounds: int
    buybacks: int


# --- rounds on chain ---------------------------------------------------------------------------------


def _round_view(relay: Relay, round_id: int, raw: Any) -> RoundView:
    record_date, deadline, posted_at, swept, root, funding, total, paid = raw
    has_root = bytes(root) != bytes(32)
    window = int(relay.call(relay.system.vault.functions.challengeWindow()))
    return RoundView(
        round_id,
        int(record_date),
        int(deadline),
        int(posted_at) if has_root else None,
        int(posted_at) + window if has_root else None,
        bool(swept),
        "0x" + bytes(root).hex() if has_root else None,
        int(funding),
        int(total),
        int(paid),
    )


def get_round(relay: Relay, round_id: int) -> RoundView:
    check_uint("round id", round_id)
    raw = relay.call(relay.system.vault.functions.round(round_id))
    if int(raw[5]) == 0:  # an opened round is always funded
        raise NotFoundError(f"equity round {round_id} does not exist")
    return _round_view(relay, round_id, raw)


def rounds(relay: Relay) -> list[RoundView]:
    count = int(relay.call(relay.system.vault.functions.roundCount()))
    return [get_round(relay, round_id) for round_id in range(1, count + 1)]


def open_round(
    relay: Relay, record_date: int, funding: int, claim_deadline: int
) -> tuple[RoundView, list[SentTx]]:
    """Funds a new round from the treasurer's settlement tokens (approve, then ``openRound``).

    The vault's window rule is checked first (the deadline after the record date and after the challenge
    window from now), so that a refused round leaves no approval behind."""
    check_uint("record date", record_date, UINT64)
    check_uint("funding", funding, low=1)
    check_uint("claim deadline", claim_deadline, UINT64)
    vault, treasurer = relay.system.vault, relay.system.roles.treasurer
    window = int(relay.call(vault.functions.challengeWindow()))
    earliest = max(record_date, relay.now() + window) + 1
    if claim_deadline < earliest:
        raise ValidationError(
            f"claim_deadline {claim_deadline} must be after the record date and after the challenge window "
            f"from now: at least {earliest} (InvalidWindow)"
        )
    sent = relay.fund_from_treasurer(vault.address, funding)
    opened = relay.send_as(vault.functions.openRound(record_date, funding, claim_deadline), treasurer)
    round_id = int(receipt_events(vault.events.RoundOpened(), opened)[0]["roundId"])
    return get_round(relay, round_id), [*sent, opened]


def sweep_round(relay: Relay, round_id: int, to: str) -> tuple[RoundView, RoundSweep]:
    """Returns what ``round_id`` did not pay to ``to`` with the treasurer key (``sweep``), once, from the
    claim deadline on; a round swept to ``to`` already answers that sweep again (``tx`` None)."""
    payee = relay.check_payee(to)
    view = get_round(relay, round_id)
    vault = relay.system.vault
    if view.swept:
        missing = f"round {round_id} was swept, but its RoundSwept event was not found"
        earlier, amount, tx = relay.earlier_payout(
            vault.events.RoundSwept(), {"roundId": round_id}, "amount", missing
        )
        if earlier != payee:
            raise ConflictError(
                f"round {round_id} was swept already: {amount} base units to {earlier} "
                f"(tx {tx}); a round is swept once (NotClosable)"
            )
        return view, RoundSweep(round_id, payee, amount, None)
    relay.require_reached(
        view.claim_deadline,
        f"round {round_id} can be swept from its claim deadline {view.claim_deadline} on; "
        "claims are open until then",
    )
    sent = relay.send_as(vault.functions.sweep(round_id, payee), relay.system.roles.treasurer)
    amount = int(receipt_events(vault.events.RoundSwept(), sent)[0]["amount"])
    return get_round(relay, round_id), RoundSweep(round_id, payee, amount, sent)


def overview(relay: Relay) -> EquityOverview:
    """The vault, the settlement token it pays in (address, symbol, decimals) and how many rounds and
    buy-backs it has opened."""
    vault = relay.system.vault
    return EquityOverview(
        views.checksum(vault.address),
        relay.settlement_token,
        int(relay.call(vault.functions.challengeWindow())),
        int(relay.call(vault.functions.roundCount())),
        int(relay.call(vault.functions.buybackCount())),
    )


# --- record-date balances ----------------------------------------------------------------------------


def record_date_balances(relay: Relay, record_date: int) -> tuple[int, dict[str, int]]:
    """The record-date block and every non-escrow holder's positive balance after it (module docstring)."""
    check_time("record date", record_date)
    if relay.now() <= record_date:
        raise ConflictError(f"the record date {record_date} has not passed yet (chain time {relay.now()})")
    system = relay.system
    block = views.block_at_or_before(relay.client, record_date, system.deployed_at_block)
    start = system.deployed_at_block
    # Deployment registers the desk and the vault as escrows before the block it records as its own, so
    # they are known from the start; later changes come from the events.
    escrows = {views.checksum(system.desk.address): True, views.checksum(system.vault.address): True}
    for log in views.event_logs(system.token.events.EscrowSet(), start, block):
        escrows[views.checksum(log.args["escrow"])] = bool(log.args["enabled"])
    balances: dict[str, int] = defaultdict(int)
    for log in views.event_logs(system.token.events.Transfer(), start, block):
        value = int(log.args["value"])
        balances[views.checksum(log.args["from"])] -= value
        balances[views.checksum(log.args["to"])] += value
    excluded = {account for account, enabled in escrows.items() if enabled} | {ZERO_ADDRESS}
    held = {a: v for a, v in balances.items() if a not in excluded and v != 0}
    negative = [a for a, v in held.items() if v < 0]
    if negative:  # impossible for an ERC-20; a node that drops logs would show it here
        raise ConflictError(f"Transfer events give negative balances for {negative[:3]}: incomplete logs?")
    return block, held


# --- snapshots ---------------------------------------------------------------------------------------


def _stored(session: Session, round_id: int) -> EquitySnapshot | None:
    return session.get(EquitySnapshot, round_id)


def _as_snapshot(row: EquitySnapshot) -> Snapshot:
    return Snapshot(row.round_id, row.record_date, row.block, row.root, row.total_eligible, row.holders)


def snapshot(session: Session, relay: Relay, round_id: int, now: int, *, rebuild: bool = False) -> Snapshot:
    """The round's stored record-date tree, computed and stored first if it is missing (or ``rebuild``)."""
    view = get_round(relay, round_id)
    row = _stored(session, round_id)
    if row is not None and not rebuild:
        return _as_snapshot(row)
    block, balances = record_date_balances(relay, view.record_date)
    if not balances:
        raise ConflictError(f"nobody held stones at the record date of round {round_id}")
    tree = MerkleTree.build(sorted(balances.items()))
    session.execute(delete(EquityBalance).where(EquityBalance.round_id == round_id))
    if row is not None:
        session.delete(row)
        session.flush()
    row = EquitySnapshot(
        round_id=round_id,
        record_date=view.record_date,
        block=block,
        root="0x" + tree.root.hex(),
        total_eligible=sum(balances.values()),
        holders=len(balances),
        nodes=tree.nodes,
        created_at=now,
    )
    session.add(row)
    session.flush()
    session.add_all(
        EquityBalance(round_id=round_id, account=account, balance=amount, tree_index=index)
        for (account, amount), index in zip(tree.entries, tree.tree_indices, strict=True)
    )
    session.flush()
    return _as_snapshot(row)


def post_balance_root(
    session: Session, relay: Relay, round_id: int, now: int
) -> tuple[Snapshot, SentTx | None]:
    """Posts the round's record-date root with the oracle key; a no-op when the chain has it already."""
    view = get_round(relay, round_id)
    if view.balance_root is not None:
        row = _stored(session, round_id)
        if row is not None and row.root == view.balance_root:
            return _as_snapshot(row), None
        raise ConflictError(f"round {round_id} has another balance root on chain: {view.balance_root}")
    # Nothing on chain: never posted, or vetoed. Recompute so a vetoed root is never sent again unexamined.
    built = snapshot(session, relay, round_id, now, rebuild=True)
    fn = relay.system.vault.functions.postBalanceRoot(
        round_id, bytes.fromhex(built.root[2:]), built.total_eligible
    )
    return built, relay.send_as(fn, relay.system.roles.oracle)


def round_claim(session: Session, relay: Relay, round_id: int, account: str) -> RoundClaim:
    """What ``account`` can claim from ``round_id`` (NotFoundError if it held nothing at the record date)."""
    account = checksum_account(account)
    view = get_round(relay, round_id)
    row = _stored(session, round_id)
    if row is None or view.balance_root is None or row.root != view.balance_root:
        raise NotFoundError(f"round {round_id} has no posted balance root the ledger holds")
    leaf = session.scalars(
        select(EquityBalance).where(EquityBalance.round_id == round_id, EquityBalance.account == account)
    ).first()
    if leaf is None:
        raise NotFoundError(f"{account} held no stones at the record date of round {round_id}")
    claimed = bool(relay.call(relay.system.vault.functions.hasClaimed(round_id, account)))
    return RoundClaim(
        round_id,
        account,
        leaf.balance,
        view.funding * leaf.balance // view.total_eligible,  # the vault's Math.mulDiv, floored
        tuple(proof_from_nodes(row.nodes, leaf.tree_index)),
        claimed,
        view.claimable_at,
        view.claim_deadline,
    )


def claim_round(session: Session, relay: Relay, round_id: int, account: str) -> tuple[RoundClaim, SentTx]:
    """Relays ``claimRound`` for ``account``: the payout goes to the account, so no signature is needed."""
    entitlement = round_claim(session, relay, round_id, account)
    if entitlement.claimed:
        raise ConflictError(f"{entitlement.account} has claimed round {round_id} already")
    fn = relay.system.vault.functions.claimRound(
        round_id, entitlement.account, entitlement.balance, list(entitlement.proof)
    )
    sent = relay.relay(fn)
    return round_claim(session, relay, round_id, account), sent
