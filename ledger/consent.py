"""Data-rights consent: the owner's EIP-712 signed agreement, its revocation, its receipt (issue 3).

``docs/consent.md`` is the normative description with a worked example; this module and that document
must agree (the tests check the example).

Typed data (EIP-712). Domain ``{name: "Yuanshi Data Rights", version: "1", chainId}`` (no verifying
contract: the agreement is with the ledger's operator, not a contract). Two primary types::

    Consent(address owner,string version,string[] categories,uint256 issuedAt)
    Revocation(address owner,bytes32 receipt,uint256 issuedAt)

Rules:

* The signer recovered from the 65-byte signature ``r ‖ s ‖ v`` must be ``owner`` (else
  :class:`SignatureError`). Like OpenZeppelin's ``ECDSA.recover``, ``v`` is 27 or 28 and ``s`` is in the
  lower half of the curve order, so each signed message has exactly one accepted signature.
* ``issuedAt`` lies within ``REPLAY_WINDOW_S`` (±10 minutes, inclusive) of ``now``: a signature captured
  once can't be played back later (:class:`SignatureError`, "expired").
* **Receipt** = the EIP-712 digest the wallet signed, ``keccak256(0x19 0x01 ‖ domainSeparator ‖
  hashStruct(Consent))``, as ``0x`` + 64 hex digits. It identifies the signed *message*, not the
  signature, so a malleated or re-made signature cannot mint a second receipt; OpenZeppelin's
  ``EIP712._hashTypedDataV4`` computes the same value on chain. A receipt is accepted once
  (:class:`ConflictError` when reused).
* ``version`` names the consent terms the app showed (1..32 of ``[A-Za-z0-9._-]``). ``categories`` is a
  non-empty list, without repeats, from the closed set :class:`Category`, kept in the signed order.
  ``trip_summaries`` is what driving rewards need: :func:`consent_active` asks for it by default.
* An account has at most one active consent. A grant supersedes the active one (its ``revoked_at`` =
  ``now``) and is active from ``now``: ``granted_at <= t < revoked_at``. The row keeps every signed field
  (chain id, both ``issuedAt``) so anyone can re-verify it (:func:`record_verifies`).
* A revocation names the receipt of the owner's active consent (:class:`NotFoundError` when the owner has
  no consent with that receipt, :class:`ConflictError` when it is no longer active). From ``now`` on,
  ``consent_active`` is false, and the owner's trip details are forgotten (:func:`forget_trip_details`).
  A grant without ``trip_summaries`` forgets them too: driving data may no longer be kept.
* Such an end is a break: :func:`consent_unbroken_since` (what ingest asks of a trip's owner) is false
  for every time before it, even after a new grant, so a late report can't bring forgotten data back.
  Superseding grants that keep ``trip_summaries`` chain without a break.

Forgetting trip details, the rule. The trips concerned are those that ended while the account owned the
car (its ownership spans: a seller's trips go with the seller's consent, a buyer's are untouched).
Without consent the car earns nothing from the next slot on, so no open epoch needs their mileage:

* a trip that ended at or before ``now - TRIP_WINDOW_S`` (720 hours, outside every window still open) is
  deleted entirely; a replay of it is refused anyway, as stale (reports older than 7 days are);
* a trip inside the window keeps only what replay protection and the record need: ``vehicle_id``,
  ``seq``, ``payload_hash``, ``ended_at``, ``status``, ``reason`` and review fields; odometer readings,
  energy, drive mode, check-in ids and the verdict's detail are erased, ``started_at`` is set to
  ``ended_at`` (the duration is personal too) and ``details_deleted`` is set. Such a trip counts zero
  metres. Plausibility against it is weaker afterwards (its odometer reads 0), the price of deleting.

Conventions as in :mod:`ledger.vehicles`: services flush, callers commit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import groupby
from typing import Any, Final, cast

from sqlalchemy import CursorResult, Result, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger import eip712
from ledger.errors import ConflictError, NotFoundError, SignatureError, ValidationError
from ledger.store.models import Consent, Ownership, Trip
from ledger.store.sql import one_of
from ledger.vehicles import check_time, checksum_account, ownership_history

__all__ = [
    "DOMAIN_NAME",
    "DOMAIN_VERSION",
    "REPLAY_WINDOW_S",
    "TRIP_WINDOW_S",
    "Category",
    "ConsentGrant",
    "ConsentRevocation",
    "RevocationResult",
    "TripPurge",
    "consent_active",
    "consent_spans",
    "consent_spans_by_account",
    "consent_unbroken_since",
    "current_consent",
    "current_receipt",
    "forget_trip_details",
    "grant_consent",
    "receipt_of",
    "record_verifies",
    "recover_signer",
    "revoke_consent",
    "sign",
    "unbroken_since",
]

DOMAIN_NAME: Final = "Yuanshi Data Rights"
DOMAIN_VERSION: Final = "1"
REPLAY_WINDOW_S: Final = 600
TRIP_WINDOW_S: Final = 720 * 3600
_ACCOUNT_CHUNK: Final = 500
_UINT256_LIMIT: Final = 2**256
_VERSION_RE: Final = re.compile(r"[A-Za-z0-9._-]{1,32}")
_RECEIPT_RE: Final = re.compile(r"0x[0-9a-fA-F]{64}")
_DETAILS_DELETED: Final = "details deleted: the owner's data-rights consent ended"

_DOMAIN_TYPE: Final = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
]
_CONSENT_TYPE: Final = [
    {"name": "owner", "type": "address"},
    {"name": "version", "type": "string"},
    {"name": "categories", "type": "string[]"},
    {"name": "issuedAt", "type": "uint256"},
]
_REVOCATION_TYPE: Final = [
    {"name": "owner", "type": "address"},
    {"name": "receipt", "type": "bytes32"},
    {"name": "issuedAt", "type": "uint256"},
]


class Category(StrEnum):
    """The data an owner may let the ledger use; the value is the string signed in ``categories``."""

    TRIP_SUMMARIES = "trip_summaries"  # needed for driving rewards
    ENERGY_USAGE = "energy_usage"
    DRIVE_MODE = "drive_mode"
    APP_ACTIVITY = "app_activity"


# --- messages ----------------------------------------------------------------------------------------


def _check_chain_id(chain_id: object) -> int:
    if type(chain_id) is not int or not 0 < chain_id < _UINT256_LIMIT:
        raise ValidationError(f"chain id must be a positive uint256, got {chain_id!r}")
    return chain_id


def _check_issued_at(issued_at: object) -> int:
    value = check_time("issuedAt", issued_at)
    if value >= _UINT256_LIMIT:
        raise ValidationError("issuedAt must fit in uint256")
    return value


def _check_categories(categories: object) -> tuple[str, ...]:
    if not isinstance(categories, tuple | list) or not categories:
        raise ValidationError("categories must be a non-empty list")
    allowed = {member.value for member in Category}
    unknown = [item for item in categories if item not in allowed]
    if unknown:
        raise ValidationError(f"unknown consent categories {unknown!r}; allowed: {sorted(allowed)}")
    if len(set(categories)) != len(categories):
        raise ValidationError("categories must not repeat")
    return tuple(categories)


def _check_receipt(receipt: object) -> str:
    if type(receipt) is not str or not _RECEIPT_RE.fullmatch(receipt):
        raise ValidationError("a receipt is 0x followed by 64 hex digits")
    return receipt.lower()


def _domain(chain_id: int) -> dict[str, Any]:
    return {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": _check_chain_id(chain_id)}


@dataclass(frozen=True, slots=True)
class ConsentGrant:
    """The fields of a signed ``Consent``; construction validates them and checksums ``owner``."""

    owner: str
    version: str
    categories: tuple[str, ...]
    issued_at: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "owner", checksum_account(self.owner))
        if type(self.version) is not str or not _VERSION_RE.fullmatch(self.version):
            raise ValidationError(f"consent version must be 1..32 of [A-Za-z0-9._-], got {self.version!r}")
        object.__setattr__(self, "categories", _check_categories(self.categories))
        _check_issued_at(self.issued_at)

    @property
    def covers_driving(self) -> bool:
        return Category.TRIP_SUMMARIES.value in self.categories

    def typed_data(self, chain_id: int) -> dict[str, Any]:
        """The EIP-712 ``full_message`` a wallet signs (``eth_signTypedData_v4``)."""
        return {
            "types": {"EIP712Domain": _DOMAIN_TYPE, "Consent": _CONSENT_TYPE},
            "primaryType": "Consent",
            "domain": _domain(chain_id),
            "message": {
                "owner": self.owner,
                "version": self.version,
                "categories": list(self.categories),
                "issuedAt": self.issued_at,
            },
        }


@dataclass(frozen=True, slots=True)
class ConsentRevocation:
    """The fields of a signed ``Revocation`` of the consent with ``receipt``."""

    owner: str
    receipt: str
    issued_at: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "owner", checksum_account(self.owner))
        object.__setattr__(self, "receipt", _check_receipt(self.receipt))
        _check_issued_at(self.issued_at)

    def typed_data(self, chain_id: int) -> dict[str, Any]:
        return {
            "types": {"EIP712Domain": _DOMAIN_TYPE, "Revocation": _REVOCATION_TYPE},
            "primaryType": "Revocation",
            "domain": _domain(chain_id),
            "message": {
                "owner": self.owner,
                "receipt": bytes.fromhex(self.receipt[2:]),
                "issuedAt": self.issued_at,
            },
        }


Message = ConsentGrant | ConsentRevocation


def receipt_of(message: Message, chain_id: int) -> str:
    """The EIP-712 digest of ``message``: for a grant, its receipt."""
    return "0x" + eip712.digest(message.typed_data(chain_id)).hex()


def sign(message: Message, private_key: bytes, chain_id: int) -> str:
    """``message`` signed as a wallet would (for the app's simulators, docs and tests)."""
    return eip712.sign(message.typed_data(chain_id), private_key)


def recover_signer(message: Message, signature: str, chain_id: int) -> str:
    """The account that signed ``message``, or :class:`SignatureError` when nothing valid is recoverable
    (``v`` must be 27 or 28 and ``s`` in the lower half, as OpenZeppelin's ECDSA requires)."""
    return eip712.recover(message.typed_data(chain_id), signature)


def _authenticate(message: Message, signature: str, chain_id: int, now: int) -> None:
    check_time("now", now)
    signer = recover_signer(message, signature, chain_id)
    if signer != message.owner:
        raise SignatureError(f"signed by {signer}, not by the owner {message.owner}")
    if abs(message.issued_at - now) > REPLAY_WINDOW_S:
        raise SignatureError(
            f"signature issued at {message.issued_at} has expired: it must be within "
            f"{REPLAY_WINDOW_S} s of now ({now})"
        )


# --- reads -------------------------------------------------------------------------------------------


def current_consent(session: Session, account: str) -> Consent | None:
    """The account's active consent row (the newest unrevoked one)."""
    query = (
        select(Consent)
        .where(Consent.account == checksum_account(account), Consent.revoked_at.is_(None))
        .order_by(Consent.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def current_receipt(session: Session, account: str) -> str | None:
    consent = current_consent(session, account)
    return None if consent is None else consent.receipt_hash


def consent_active(
    session: Session, account: str, at: int, category: Category | None = Category.TRIP_SUMMARIES
) -> bool:
    """Whether ``account`` had a consent covering ``category`` (any consent, for None) at time ``at``."""
    query = select(Consent.categories).where(
        Consent.account == checksum_account(account),
        Consent.granted_at <= at,
        or_(Consent.revoked_at.is_(None), Consent.revoked_at > at),
    )
    return any(category is None or category.value in json.loads(row) for row in session.scalars(query))


def consent_spans(
    session: Session, account: str, category: Category = Category.TRIP_SUMMARIES
) -> list[tuple[int, int | None]]:
    """``(granted_at, revoked_at)`` of each of ``account``'s consents covering ``category``, by grant time."""
    query = (
        select(Consent.granted_at, Consent.revoked_at, Consent.categories)
        .where(Consent.account == checksum_account(account))
        .order_by(Consent.granted_at, Consent.id)
    )
    return [
        (granted_at, revoked_at)
        for granted_at, revoked_at, categories in session.execute(query)
        if category.value in json.loads(categories)
    ]


def consent_spans_by_account(
    session: Session, accounts: Iterable[str], category: Category = Category.TRIP_SUMMARIES
) -> dict[str, list[tuple[int, int | None]]]:
    """:func:`consent_spans` of each of ``accounts`` (checksummed), in one query per 500 accounts;
    an account without any consent maps to an empty list."""
    wanted = sorted({checksum_account(account) for account in accounts})
    rows: list[tuple[str, int, int | None, str]] = []
    for start in range(0, len(wanted), _ACCOUNT_CHUNK):
        query = (
            select(Consent.account, Consent.granted_at, Consent.revoked_at, Consent.categories)
            .where(one_of(session, Consent.account, wanted[start : start + _ACCOUNT_CHUNK]))
            .order_by(Consent.granted_at, Consent.id)
        )
        rows.extend((row[0], row[1], row[2], row[3]) for row in session.execute(query))
    return spans_by_account(rows, wanted, category)


def spans_by_account(
    rows: Iterable[tuple[str, int, int | None, str]],
    accounts: Iterable[str],
    category: Category = Category.TRIP_SUMMARIES,
) -> dict[str, list[tuple[int, int | None]]]:
    """The spans of :func:`consent_spans_by_account` from its rows ``(account, granted_at, revoked_at,
    categories)`` in grant order; every one of ``accounts`` maps to a list, empty without consent."""
    spans: dict[str, list[tuple[int, int | None]]] = {account: [] for account in accounts}
    for account, granted_at, revoked_at, categories in rows:
        if category.value in json.loads(categories):
            spans[account].append((granted_at, revoked_at))
    return spans


def unbroken_since(spans: Sequence[tuple[int, int | None]], since: int) -> bool:
    """Whether ``spans`` (from :func:`consent_spans`) cover every instant from ``since`` on, without a gap."""
    covered_until = since
    for granted_at, revoked_at in spans:
        if revoked_at is not None and revoked_at <= covered_until:
            continue  # ended before the time still to cover
        if granted_at > covered_until:
            return False  # a gap between covered_until and this grant
        if revoked_at is None:
            return True
        covered_until = revoked_at
    return False


def consent_unbroken_since(
    session: Session, account: str, since: int, category: Category = Category.TRIP_SUMMARIES
) -> bool:
    """Whether ``account``'s consent covering ``category`` has held from ``since`` until now without a break.

    Superseding grants chain seamlessly; a revocation (or a grant without ``category``) breaks the chain,
    and a later grant does not mend it for times before the break.
    """
    return unbroken_since(consent_spans(session, account, category), since)


def record_verifies(consent: Consent) -> bool:
    """Re-verifies a stored consent from its row alone: the grant's signature and receipt, and the
    revocation's signature if there is one (an auditor's check; the replay window is not re-applied)."""
    grant = ConsentGrant(
        consent.account, consent.version, tuple(json.loads(consent.categories)), consent.issued_at
    )
    try:
        if recover_signer(grant, consent.signature, consent.chain_id) != consent.account:
            return False
        if receipt_of(grant, consent.chain_id) != consent.receipt_hash:
            return False
        if consent.revocation_signature is None or consent.revocation_issued_at is None:
            # A superseded consent ended without a signed revocation; half a revocation is tampering.
            return consent.revocation_signature is None and consent.revocation_issued_at is None
        revocation = ConsentRevocation(consent.account, consent.receipt_hash, consent.revocation_issued_at)
        return recover_signer(revocation, consent.revocation_signature, consent.chain_id) == consent.account
    except (SignatureError, ValidationError):
        return False


# --- writes ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TripPurge:
    deleted: int  # trips removed entirely (ended outside every open window)
    redacted: int  # trips reduced to their replay-protection skeleton


@dataclass(frozen=True, slots=True)
class RevocationResult:
    receipt: str
    purge: TripPurge


def grant_consent(session: Session, grant: ConsentGrant, signature: str, chain_id: int, now: int) -> str:
    """Records a signed consent, superseding the owner's active one, and returns its receipt."""
    _authenticate(grant, signature, chain_id, now)
    receipt = receipt_of(grant, chain_id)
    if session.scalars(select(Consent.id).where(Consent.receipt_hash == receipt)).first() is not None:
        raise ConflictError(f"consent receipt {receipt} was already used")
    row = Consent(
        account=grant.owner,
        version=grant.version,
        categories=json.dumps(list(grant.categories)),
        granted_at=now,
        signature=signature.lower(),
        receipt_hash=receipt,
        chain_id=chain_id,
        issued_at=grant.issued_at,
    )
    try:
        with session.begin_nested():
            for previous in _active_consents(session, grant.owner):
                previous.revoked_at = now
            session.add(row)
    except IntegrityError:
        raise ConflictError(f"consent receipt {receipt} was used concurrently") from None
    if not grant.covers_driving:
        forget_trip_details(session, grant.owner, now)
    return receipt


def _active_consents(session: Session, account: str) -> Sequence[Consent]:
    query = select(Consent).where(Consent.account == account, Consent.revoked_at.is_(None))
    return session.scalars(query).all()


def revoke_consent(
    session: Session, revocation: ConsentRevocation, signature: str, chain_id: int, now: int
) -> RevocationResult:
    """Ends the owner's active consent at ``now`` and forgets the owner's trip details (module docstring)."""
    _authenticate(revocation, signature, chain_id, now)
    consent = session.scalars(
        select(Consent).where(Consent.receipt_hash == revocation.receipt, Consent.account == revocation.owner)
    ).first()
    if consent is None:
        raise NotFoundError(f"{revocation.owner} has no consent with receipt {revocation.receipt}")
    if consent.revoked_at is not None:
        raise ConflictError(f"consent {revocation.receipt} already ended at {consent.revoked_at}")
    consent.revoked_at = now
    consent.revocation_signature = signature.lower()
    consent.revocation_issued_at = revocation.issued_at
    session.flush()
    return RevocationResult(revocation.receipt, forget_trip_details(session, revocation.owner, now))


def _owned_spans(session: Session, account: str) -> list[tuple[str, int, int | None]]:
    """``(vehicle_id, from_time, until)`` for each period ``account`` owned a car (``until`` None: still)."""
    owned = session.scalars(select(Ownership.vehicle_id).where(Ownership.account == account).distinct())
    spans: list[tuple[str, int, int | None]] = []
    for vehicle_id, group in groupby(ownership_history(session, owned), key=lambda record: record.vehicle_id):
        records = list(group)
        for index, record in enumerate(records):
            if record.account == account:
                until = records[index + 1].from_time if index + 1 < len(records) else None
                spans.append((vehicle_id, record.from_time, until))
    return spans


def forget_trip_details(session: Session, account: str, now: int) -> TripPurge:
    """Deletes or redacts the trips of ``account``'s ownership spans, by the rule in the module docstring."""
    account = checksum_account(account)
    cutoff = check_time("now", now) - TRIP_WINDOW_S
    deleted = redacted = 0
    for vehicle_id, from_time, until in _owned_spans(session, account):
        span = [Trip.vehicle_id == vehicle_id, Trip.ended_at >= from_time]
        if until is not None:
            span.append(Trip.ended_at < until)
        deleted += _count(session.execute(delete(Trip).where(*span, Trip.ended_at <= cutoff)))
        redacted += _count(
            session.execute(
                update(Trip)
                .where(*span, Trip.ended_at > cutoff, Trip.details_deleted.is_(False))
                .values(_REDACTED | {"started_at": Trip.ended_at})
            )
        )
    session.flush()
    return TripPurge(deleted, redacted)


_REDACTED: Final[dict[str, object]] = {
    "odometer_start_m": 0,
    "odometer_end_m": 0,
    "energy_wh": 0,
    "drive_mode": "",
    "checkin_ids": "[]",
    "detail": _DETAILS_DELETED,
    "details_deleted": True,
}


def _count(result: Result[Any]) -> int:
    # Bulk DELETE/UPDATE return a CursorResult, whose rowcount is exact on SQLite and PostgreSQL.
    return cast("CursorResult[Any]", result).rowcount
