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
* Batch claims (:func:`relay_claims`) send one ``claimMany`` for up to :data:`MAX_CLAIMS` accounts, each
  named once: accounts with nothing to claim are left out of the transaction and reported as such, and an
  account someone else paid between the check and the transaction is skipped by the contract, not
  reverted on, so one account never sinks its batch. At about 70,000 gas for a first claim (a tree of
  depth 20), 200 accounts are about 14 M gas, inside the 30 M block gas limit common to EVM chains.
* Operator payments out of the vault (sweeps, buy-back refunds) never go to a system contract, which
  could not move the tokens on (:meth:`Relay.check_payee`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any, Final

from sqlalchemy.orm import Session

from ledger.chain import views
from ledger.chain.deploy import System
from ledger.chain.views import EventLog, SentTx, receipt_events
from ledger.claims import ClaimTicket, claim_many_args, ticket, tickets_for
from ledger.errors import ChainError, ConflictError, NotFoundError, ValidationError, YuanshiError
from ledger.settlement import OnchainEpoch
from ledger.store.models import Epoch
from ledger.vehicles import checksum_account

__all__ = [
    "MAX_CLAIMS",
    "UINT64",
    "UINT128",
    "UINT256",
    "AccountFacts",
    "BatchClaim",
    "BatchClaimResult",
    "ClaimRecord",
    "ClaimResult",
    "ClaimStatus",
    "Relay",
    "RelayerUnavailableError",
    "TokenInfo",
    "check_uint",
    "claim_ticket",
    "relay_claim",
    "relay_claims",
]

MAX_CLAIMS: Final = 200
UINT64: Final = 2**64
UINT128: Final = 2**128
UINT256: Final = 2**256


def check_uint(name: str, value: object, limit: int = UINT256, low: int = 0) -> int:
    """``value`` if it is an int in ``[low, limit)`` (a contract argument of that width), else
    :class:`ValidationError` naming ``name`` (bool is refused: True is not 1)."""
    if type(value) is not int or not low <= value < limit:
        raise ValidationError(f"{name} must be an integer in [{low}, {limit}), got {value!r}")
    return value


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


class ClaimStatus(StrEnum):
    CLAIMED = "claimed"  # this batch minted ``amount`` to the account
    CLAIMED_ALREADY = "claimed_already"  # the account has been paid all it is owed up to the epoch
    NOT_ENTITLED = "not_entitled"  # the account has no entitlement up to the epoch


@dataclass(frozen=True)
class BatchClaim:
    """One account of a batch claim: what the batch minted to it (0 unless CLAIMED) and why."""

    account: str
    status: ClaimStatus
    amount: int
    cumulative: int
    detail: str


@dataclass(frozen=True)
class BatchClaimResult:
    epoch: int
    claims: list[BatchClaim]  # in the order the accounts were given
    tx: SentTx | None  # None when nobody had anything to claim


@dataclass(frozen=True)
class TokenInfo:
    """An ERC-20's address and metadata, as the token reports them."""

    address: str
    name: str
    symbol: str
    decimals: int


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

    def earlier_payout(
        self, event: Any, filters: dict[str, Any], amount: str, missing: str
    ) -> tuple[str, int, str]:
        """Payee, amount (the log's ``amount`` argument) and transaction of the last ``event`` log matching
        ``filters``: a vault payout that happens once, asked about again. :class:`ConflictError` ``missing``
        when the vault says it happened but no log says to whom."""
        found = self.logs(event, filters)
        if not found:
            raise ConflictError(missing)
        return views.checksum(found[-1].args["to"]), int(found[-1].args[amount]), found[-1].tx_hash

    def require_reached(self, due: int, refusal: str) -> None:
        """:class:`ConflictError` ``refusal`` unless a transaction sent now is mined at ``due`` or later: in a
        later block than the latest, so at chain time + 1 at the earliest."""
        now = self.now()
        if now + 1 < due:
            raise ConflictError(f"{refusal} (chain time {now}) (NotClosable)")

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

    @cached_property
    def settlement_token(self) -> TokenInfo:
        """The ERC-20 the vault pays rounds and buy-backs with (its address is immutable in the vault, and
        so, for any ordinary ERC-20, are its name, symbol and decimals: read once per process)."""
        address = views.checksum(self.call(self.system.vault.functions.settlementToken()))
        if address != views.checksum(self.system.settlement.address):
            raise ChainError(
                f"the vault pays in {address}, "
                f"but the deployment record names {self.system.settlement.address}"
            )
        token = self.system.settlement.functions
        return TokenInfo(
            address,
            str(self.call(token.name())),
            str(self.call(token.symbol())),
            int(self.call(token.decimals())),
        )

    def check_payee(self, to: object) -> str:
        """``to`` checksummed, if it can receive the vault's settlement tokens: an account, not the zero
        address nor one of the system's contracts (tokens sent there could never be moved on)."""
        try:
            payee = checksum_account(to)
        except ValidationError as exc:
            raise ValidationError(f"to: {exc}") from None
        contracts = {views.checksum(address): name for name, address in self.system.addresses().items()}
        if payee in contracts:
            raise ValidationError(
                f"to: {payee} is the {contracts[payee]} contract, which could never move the tokens on"
            )
        return payee

    # --- stones and settlement ----------------------------------------------------------------------

    def claimable_epoch(self) -> int | None:
        """The epoch the distributor pays claims against now (None: no root is past its window yet)."""
        found, epoch = self.call(self.system.distributor.functions.claimableEpoch())
        return int(epoch) if found else None

    def claimed(self, account: str) -> int:
        return int(self.call(self.system.distributor.functions.claimed(checksum_account(account))))

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
        epoch = _claimable_epoch(relay)
    _check_tree(session, relay, epoch)
    return ticket(session, account, epoch)


def _claimable_epoch(relay: Relay) -> int:
    epoch = relay.claimable_epoch()
    if epoch is None:
        raise ConflictError("no epoch is claimable yet: the first root is still in its challenge window")
    return epoch


def _check_tree(session: Session, relay: Relay, epoch: int) -> None:
    """Refuses an epoch whose stored tree is missing or is not the one on chain."""
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


def _batch_accounts(accounts: object) -> list[str]:
    """The accounts checksummed; refuses a batch that is empty, too long, malformed or names one twice."""
    if isinstance(accounts, str | bytes) or not isinstance(accounts, Sequence):
        raise ValidationError("accounts must be a list of account addresses")
    if not 1 <= len(accounts) <= MAX_CLAIMS:
        raise ValidationError(f"accounts: 1..{MAX_CLAIMS} accounts per batch, got {len(accounts)}")
    first: dict[str, int] = {}
    for index, raw in enumerate(accounts):
        try:
            account = checksum_account(raw)
        except ValidationError as exc:
            raise ValidationError(f"accounts[{index}]: {exc}") from None
        if account in first:
            raise ValidationError(
                f"accounts[{index}] repeats accounts[{first[account]}] ({account}): name each account once"
            )
        first[account] = index
    return list(first)


def relay_claims(session: Session, relay: Relay, accounts: Sequence[str]) -> BatchClaimResult:
    """Claims for every account of ``accounts`` that is owed something against the claimable root, in one
    ``claimMany`` paid by the relayer; the others are reported with the reason they got nothing."""
    batch = _batch_accounts(accounts)
    epoch = _claimable_epoch(relay)
    _check_tree(session, relay, epoch)
    entitled = tickets_for(session, epoch, batch)
    already = {account: relay.claimed(account) for account in batch}
    due = [t for a in batch if (t := entitled.get(a)) is not None and t.cumulative > already[a]]
    sent: SentTx | None = None
    minted: dict[str, int] = {}
    if due:
        distributor = relay.system.distributor
        fn = distributor.functions.claimMany(*claim_many_args(due))
        sent = relay.relay(fn)
        for event in receipt_events(distributor.events.Claimed(), sent):
            minted[views.checksum(event["account"])] = int(event["amount"])
    claims: list[BatchClaim] = []
    for account in batch:
        found = entitled.get(account)
        cumulative = 0 if found is None else found.cumulative
        if account in minted:
            claims.append(
                BatchClaim(
                    account,
                    ClaimStatus.CLAIMED,
                    minted[account],
                    cumulative,
                    f"minted {minted[account]} base units, all it is owed up to epoch {epoch}",
                )
            )
        elif cumulative == 0:
            detail = f"nothing to claim: no entitlement up to epoch {epoch}"
            claims.append(BatchClaim(account, ClaimStatus.NOT_ENTITLED, 0, 0, detail))
        else:
            detail = (
                f"nothing to claim: already paid all {cumulative} base units it is owed up to epoch {epoch}"
            )
            claims.append(BatchClaim(account, ClaimStatus.CLAIMED_ALREADY, 0, cumulative, detail))
    return BatchClaimResult(epoch, claims, sent)
