"""The API's way to the contracts: reads, sends by the relayer and by operator role keys, relayed claims.

Every chain access the API makes goes through a :class:`Relay` (and the area modules built on it:
:mod:`ledger.redemptions`, :mod:`ledger.equity`, :mod:`ledger.buybacks`), over the ``ledger.chain``
objects of a deployed :class:`~ledger.chain.deploy.System`.

Rules:

* The **relayer** is an account that pays gas for owners: it sends claims (stones always go to the account
  named, so no owner signature is needed), orders and sell-backs the owner signed (EIP-712), and round
  claims. It holds no role. Operator actions are sent from the system's role holders (fulfiller, catalogue,
  treasurer, oracle), whose keys the chain client must hold.
* A request the contract would refuse is refused before it is sent whenever the ledger can tell (a bad
  owner signature, nothing to claim): a revert is found by the gas estimate anyway, so nothing is paid,
  but the ledger's reason is clearer. Whatever still reverts surfaces as ``ContractRevert``.
* Chain access is serialised per process (:mod:`ledger.chain.views`); a ``Relay`` never touches the
  database while it holds the chain, so a database transaction may wait for the chain but never the
  other way round.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy.orm import Session

from ledger.chain import views
from ledger.chain.deploy import System
from ledger.chain.views import EventLog, SentTx
from ledger.claims import ClaimTicket, ticket
from ledger.errors import ConflictError, NotFoundError, YuanshiError
from ledger.settlement import OnchainEpoch
from ledger.store.models import Epoch
from ledger.vehicles import checksum_account

__all__ = [
    "AccountFacts",
    "ClaimRecord",
    "ClaimResult",
    "Relay",
    "RelayerUnavailableError",
    "claim_ticket",
    "relay_claim",
]


class RelayerUnavailableError(YuanshiError):
    """No relayer account is configured, so relayed requests cannot be sent."""


@dataclass(frozen=True)
class AccountFacts:
    """What the chain says about an account."""

    balance: int
    claimed: int
    claimable_epoch: int | None


@dataclass(frozen=True)
class ClaimRecord:
    """A ``Claimed`` event: ``amount`` minted, bringing the account's claims to ``cumulative``."""

    block: int
    tx_hash: str
    amount: int
    cumulative: int


@dataclass(frozen=True)
class ClaimResult:
    account: str
    epoch: int
    amount: int
    cumulative: int
    tx: SentTx


class Relay:
    """A deployed system seen from the API; ``relayer`` None leaves relayed sends unavailable."""

    def __init__(self, system: System, relayer: str | None) -> None:
        self.system = system
        self.client = system.client
        self.relayer = None if relayer is None else views.checksum(relayer)
        views.serialize(self.client)

    # --- plumbing -----------------------------------------------------------------------------------

    def now(self) -> int:
        """The chain's clock (the latest block's timestamp)."""
        return self.client.now()

    def call(self, fn: Any) -> Any:
        return self.client.call(fn)

    def send_as(self, fn: Any, sender: str) -> SentTx:
        return views.send(self.client, fn, sender)

    def relay(self, fn: Any) -> SentTx:
        if self.relayer is None:
            raise RelayerUnavailableError("no relayer account is configured for relayed requests")
        return views.send(self.client, fn, self.relayer)

    def domain(self, contract: Any) -> dict[str, Any]:
        """The EIP-712 domain ``contract`` signs under, as it reports it (ERC-5267)."""
        _fields, name, version, chain_id, verifying, _salt, _ext = self.call(
            contract.functions.eip712Domain()
        )
        return {
            "name": name,
            "version": version,
            "chainId": int(chain_id),
            "verifyingContract": views.checksum(verifying),
        }

    def nonce(self, contract: Any, owner: str) -> int:
        return int(self.call(contract.functions.nonces(owner)))

    def logs(self, event: Any, filters: dict[str, Any] | None = None) -> list[EventLog]:
        """Every ``event`` log since the system was deployed."""
        return views.event_logs(event, self.system.deployed_at_block, None, filters)

    def fund_from_treasurer(self, spender: str, amount: int) -> list[SentTx]:
        """Lets ``spender`` pull ``amount`` settlement tokens from the treasurer (approving only if needed),
        after checking the treasurer holds them, so a doomed funding never leaves an approval behind."""
        settlement, treasurer = self.system.settlement.functions, self.system.roles.treasurer
        held = int(self.call(settlement.balanceOf(treasurer)))
        if held < amount:
            raise ConflictError(
                f"the treasurer holds {held} settlement-token base units, not the {amount} needed"
            )
        if int(self.call(settlement.allowance(treasurer, spender))) >= amount:
            return []
        return [self.send_as(settlement.approve(spender, amount), treasurer)]

    @cached_property
    def challenge_window(self) -> int:
        return int(self.call(self.system.distributor.functions.challengeWindow()))

    # --- stones and settlement ----------------------------------------------------------------------

    def account_facts(self, account: str) -> AccountFacts:
        account = checksum_account(account)
        token, distributor = self.system.token.functions, self.system.distributor.functions
        found, epoch = self.call(distributor.claimableEpoch())
        return AccountFacts(
            int(self.call(token.balanceOf(account))),
            int(self.call(distributor.claimed(account))),
            int(epoch) if found else None,
        )

    def total_supply(self) -> int:
        return int(self.call(self.system.token.functions.totalSupply()))

    def posted_epochs(self) -> int:
        """How many epochs are posted (``nextEpoch``): epochs ``0 .. n-1``."""
        return int(self.call(self.system.distributor.functions.nextEpoch()))

    def epoch_record(self, epoch: int) -> OnchainEpoch:
        root, posted_at, driving, cocreation = self.call(self.system.distributor.functions.epochRecord(epoch))
        return OnchainEpoch(bytes(root), int(posted_at), int(driving), int(cocreation))

    def claims_of(self, account: str) -> list[ClaimRecord]:
        logs = self.logs(self.system.distributor.events.Claimed(), {"account": checksum_account(account)})
        return [
            ClaimRecord(log.block, log.tx_hash, int(log.args["amount"]), int(log.args["cumulativeAmount"]))
            for log in logs
        ]


# --- claims ------------------------------------------------------------------------------------------


def claim_ticket(session: Session, relay: Relay, account: str, epoch: int | None = None) -> ClaimTicket:
    """The account's ticket against ``epoch`` (default: the epoch the distributor pays against now).

    Refuses a ticket whose tree is not the one on chain (a vetoed root the ledger has not redone), because
    its proof could never verify."""
    account = checksum_account(account)
    if epoch is None:
        epoch = relay.account_facts(account).claimable_epoch
        if epoch is None:
            raise ConflictError("no epoch is claimable yet: the first root is still in its challenge window")
    stored = session.get(Epoch, epoch)
    if stored is None or stored.root is None:
        raise NotFoundError(f"epoch {epoch} has no settled tree in the ledger")
    if epoch < relay.posted_epochs():
        onchain = "0x" + relay.epoch_record(epoch).root.hex()
        if onchain != stored.root:
            raise ConflictError(
                f"epoch {epoch}: the ledger's root {stored.root} is not the chain's {onchain}; "
                "settlement must catch up before claims"
            )
    return ticket(session, account, epoch)


def relay_claim(session: Session, relay: Relay, account: str) -> ClaimResult:
    """Claims everything ``account`` is owed against the claimable root, paid by the relayer."""
    account = checksum_account(account)
    facts = relay.account_facts(account)
    try:
        claim = claim_ticket(session, relay, account, facts.claimable_epoch)
    except NotFoundError:
        raise ConflictError(f"{account} has nothing to claim yet") from None
    if claim.cumulative <= facts.claimed:
        raise ConflictError(
            f"{account} has claimed {facts.claimed} base units already, all it is owed up to "
            f"epoch {claim.epoch}"
        )
    fn = relay.system.distributor.functions.claim(account, claim.cumulative, list(claim.proof))
    sent = relay.relay(fn)
    return ClaimResult(account, claim.epoch, claim.cumulative - facts.claimed, claim.cumulative, sent)
