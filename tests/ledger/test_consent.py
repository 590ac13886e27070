"""Data-rights consent (issue 3): EIP-712 grants and revocations, receipts, the replay window, superseding,
and forgetting trip details when consent ends. ``docs/consent.md``'s worked example is checked here.

Database tests run on SQLite and PostgreSQL through the module fixtures of ``test_vehicles``.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Final

import pytest
from eth_account import Account
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger import consent, eip712, ingest, vehicles
from ledger.consent import Category, ConsentGrant, ConsentRevocation, RevocationResult
from ledger.errors import ConflictError, NotFoundError, SignatureError, ValidationError
from ledger.merkle import keccak256
from ledger.store.models import Consent, Trip, TripStatus
from tests.ledger.test_vehicles import (  # the shared module fixtures and helpers
    ALICE,
    ED_KEY_2,
    OTHER_VIN,
    P256_KEY,
    T0,
    VEHICLE,
    emptied_session,  # noqa: F401
    module_engine,  # noqa: F401
    register,
    synthetic_vin,
)

ROOT: Final = Path(__file__).resolve().parents[2]
ALICE_KEY: Final = bytes([0x01]) * 32
MALLORY_KEY: Final = bytes([0x02]) * 32
MALLORY: Final = str(Account.from_key(MALLORY_KEY).address)
CHAIN: Final = 31337
HOUR: Final = 3_600
DRIVING: Final = ("trip_summaries",)


def grant(
    session: Session,
    *,
    now: int = T0,
    key: bytes = ALICE_KEY,
    owner: str = ALICE,
    categories: tuple[str, ...] = DRIVING,
    issued_at: int | None = None,
) -> str:
    message = ConsentGrant(owner, "2026-01", categories, now if issued_at is None else issued_at)
    return consent.grant_consent(session, message, consent.sign(message, key, CHAIN), CHAIN, now)


def revoke(
    session: Session,
    receipt: str,
    *,
    now: int,
    key: bytes = ALICE_KEY,
    owner: str = ALICE,
    issued_at: int | None = None,
) -> RevocationResult:
    message = ConsentRevocation(owner, receipt, now if issued_at is None else issued_at)
    return consent.revoke_consent(session, message, consent.sign(message, key, CHAIN), CHAIN, now)


def add_trip(
    session: Session,
    vehicle_id: str,
    seq: int,
    ended_at: int,
    *,
    metres: int = 10_000,
    status: TripStatus = TripStatus.ACCEPTED,
) -> Trip:
    """A stored trip as ingest would write it (consent tests need no signed reports)."""
    trip = Trip(
        vehicle_id=vehicle_id,
        seq=seq,
        payload_hash="0x" + hashlib.sha256(f"{vehicle_id}/{seq}".encode()).hexdigest(),
        started_at=ended_at - 900,
        ended_at=ended_at,
        odometer_start_m=1_000_000 + seq * 100_000,
        odometer_end_m=1_000_000 + seq * 100_000 + metres,
        energy_wh=metres * 150 // 1_000,
        drive_mode="eco",
        checkin_ids='["checkin-7"]',
        status=status,
        reason="ok" if status is TripStatus.ACCEPTED else "too_fast",
        detail="report accepted"
        if status is TripStatus.ACCEPTED
        else f"{metres} m in 900 s exceeds 250 km/h",
        received_at=ended_at + 60,
    )
    session.add(trip)
    session.flush()
    return trip


def stored_consents(session: Session) -> list[Consent]:
    return list(session.scalars(select(Consent).order_by(Consent.id)))


# --- the typed data and the worked example ------------------------------------------------------------

EXAMPLE: Final = ConsentGrant(ALICE, "2026-01", ("trip_summaries", "app_activity"), 1_767_225_600)


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _hand_digest_of_example() -> bytes:
    """The EIP-712 digest of ``EXAMPLE`` computed from the specification, independently of eth_account."""
    domain_type = keccak256(b"EIP712Domain(string name,string version,uint256 chainId)")
    domain = keccak256(domain_type + keccak256(b"Yuanshi Data Rights") + keccak256(b"1") + _word(CHAIN))
    consent_type = keccak256(b"Consent(address owner,string version,string[] categories,uint256 issuedAt)")
    categories = keccak256(keccak256(b"trip_summaries") + keccak256(b"app_activity"))
    owner = bytes(12) + bytes.fromhex(ALICE[2:])  # an address is left-padded to a word
    struct = keccak256(consent_type + owner + keccak256(b"2026-01") + categories + _word(1_767_225_600))
    return keccak256(b"\x19\x01" + domain + struct)


def test_the_receipt_is_the_eip712_digest_computed_by_hand() -> None:
    assert consent.receipt_of(EXAMPLE, CHAIN) == "0x" + _hand_digest_of_example().hex()


def test_the_worked_example_in_the_docs_is_what_the_code_computes() -> None:
    doc = (ROOT / "docs/consent.md").read_text(encoding="utf-8")
    receipt = consent.receipt_of(EXAMPLE, CHAIN)
    signature = consent.sign(EXAMPLE, ALICE_KEY, CHAIN)
    revocation = ConsentRevocation(ALICE, receipt, 1_767_312_000)
    for value in (
        receipt,
        signature,
        consent.receipt_of(revocation, CHAIN),
        consent.sign(revocation, ALICE_KEY, CHAIN),
        ALICE,
    ):
        assert value in doc
    assert consent.recover_signer(EXAMPLE, signature, CHAIN) == ALICE
    message = json.loads(re.findall(r"```json\n(.*?)```", doc, re.DOTALL)[0])
    assert message == json.loads(json.dumps(EXAMPLE.typed_data(CHAIN)))
    for type_string in (
        "EIP712Domain(string name,string version,uint256 chainId)",
        "Consent(address owner,string version,string[] categories,uint256 issuedAt)",
        "Revocation(address owner,bytes32 receipt,uint256 issuedAt)",
    ):
        assert "0x" + keccak256(type_string.encode()).hex() in doc


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"categories": ()}, "non-empty"),
        ({"categories": "trip_summaries"}, "non-empty list"),
        ({"categories": ("trip_summaries", "gps_traces")}, "unknown consent categories"),
        ({"categories": ("trip_summaries", "trip_summaries")}, "repeat"),
        ({"version": ""}, "version"),
        ({"version": "v 1"}, "version"),
        ({"version": "x" * 33}, "version"),
        ({"owner": "0x1234"}, "malformed"),
        ({"owner": "0x" + "00" * 20}, "zero address"),
        ({"issued_at": -1}, "issuedAt"),
        ({"issued_at": 2**256}, "issuedAt"),
    ],
)
def test_consent_messages_are_validated(fields: dict[str, object], match: str) -> None:
    values: dict[str, object] = {"owner": ALICE, "version": "1.0", "categories": DRIVING, "issued_at": T0}
    values.update(fields)
    with pytest.raises(ValidationError, match=match):
        ConsentGrant(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("chain_id", [0, -1, True, 2**256])
def test_chain_id_must_be_a_positive_uint256(chain_id: int) -> None:
    with pytest.raises(ValidationError, match="chain id"):
        EXAMPLE.typed_data(chain_id)


def test_revocation_receipts_are_validated() -> None:
    with pytest.raises(ValidationError, match="receipt"):
        ConsentRevocation(ALICE, "0x1234", T0)
    assert ConsentRevocation(ALICE, "0x" + "AB" * 32, T0).receipt == "0x" + "ab" * 32


# --- signatures ---------------------------------------------------------------------------------------


def _split(signature: str) -> tuple[int, int, int]:
    raw = bytes.fromhex(signature[2:])
    return int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"), raw[64]


def _join(r: int, s: int, v: int) -> str:
    return "0x" + (r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])).hex()


def test_signature_shapes_and_malleable_forms_are_refused() -> None:
    r, s, v = _split(consent.sign(EXAMPLE, ALICE_KEY, CHAIN))
    with pytest.raises(ValidationError, match="130 hex"):
        consent.recover_signer(EXAMPLE, "0x1234", CHAIN)
    with pytest.raises(SignatureError, match="v must be 27 or 28"):
        consent.recover_signer(EXAMPLE, _join(r, s, v - 27), CHAIN)
    with pytest.raises(SignatureError, match="upper half"):
        consent.recover_signer(EXAMPLE, _join(r, eip712.SECP256K1_N - s, 55 - v), CHAIN)
    with pytest.raises(SignatureError, match="does not verify"):
        consent.recover_signer(EXAMPLE, _join(0, s, v), CHAIN)


def test_grant_records_every_signed_field_and_is_active_from_now(session: Session) -> None:
    receipt = grant(session, now=T0 + 30, issued_at=T0)
    assert receipt == consent.receipt_of(ConsentGrant(ALICE, "2026-01", DRIVING, T0), CHAIN)
    [row] = stored_consents(session)
    assert (row.account, row.version, json.loads(row.categories)) == (ALICE, "2026-01", list(DRIVING))
    assert (row.granted_at, row.issued_at, row.chain_id, row.revoked_at) == (T0 + 30, T0, CHAIN, None)
    assert consent.record_verifies(row)
    assert consent.current_receipt(session, ALICE.lower()) == receipt
    assert not consent.consent_active(session, ALICE, T0 + 29)
    assert consent.consent_active(session, ALICE, T0 + 30)
    assert consent.consent_active(session, ALICE, 2**62)


def test_a_signature_by_anyone_but_the_owner_is_refused(session: Session) -> None:
    with pytest.raises(SignatureError, match=f"not by the owner {ALICE}"):
        grant(session, key=MALLORY_KEY)
    message = ConsentGrant(ALICE, "2026-01", DRIVING, T0)
    other_chain = consent.sign(message, ALICE_KEY, CHAIN + 1)
    with pytest.raises(SignatureError, match="not by the owner"):
        consent.grant_consent(session, message, other_chain, CHAIN, T0)
    widened = ConsentGrant(ALICE, "2026-01", (*DRIVING, "app_activity"), T0)
    with pytest.raises(SignatureError, match="not by the owner"):
        consent.grant_consent(session, widened, consent.sign(message, ALICE_KEY, CHAIN), CHAIN, T0)
    assert stored_consents(session) == []


@pytest.mark.parametrize(("offset", "ok"), [(-600, True), (600, True), (-601, False), (601, False)])
def test_issued_at_must_be_within_ten_minutes_of_now(session: Session, offset: int, ok: bool) -> None:
    if ok:
        grant(session, now=T0, issued_at=T0 + offset)
        assert consent.consent_active(session, ALICE, T0)
    else:
        with pytest.raises(SignatureError, match="expired"):
            grant(session, now=T0, issued_at=T0 + offset)
        assert stored_consents(session) == []


def test_a_receipt_is_accepted_once(session: Session) -> None:
    message = ConsentGrant(ALICE, "2026-01", DRIVING, T0)
    signature = consent.sign(message, ALICE_KEY, CHAIN)
    consent.grant_consent(session, message, signature, CHAIN, T0)
    with pytest.raises(ConflictError, match="already used"):
        consent.grant_consent(session, message, signature, CHAIN, T0 + 5)
    assert len(stored_consents(session)) == 1


# --- superseding and revoking ---------------------------------------------------------------------------


def test_a_new_grant_supersedes_the_active_one(session: Session) -> None:
    first = grant(session, now=T0)
    second = grant(session, now=T0 + 100, categories=("trip_summaries", "energy_usage"))
    old, new = stored_consents(session)
    assert (old.receipt_hash, old.revoked_at) == (first, T0 + 100)
    assert (new.receipt_hash, new.revoked_at, new.granted_at) == (second, None, T0 + 100)
    assert consent.current_receipt(session, ALICE) == second
    assert consent.record_verifies(old)  # superseded, so ended without a signed revocation
    assert consent.consent_active(session, ALICE, T0 + 99)
    assert consent.consent_active(session, ALICE, T0 + 100)
    assert not consent.consent_active(session, ALICE, T0 + 99, Category.ENERGY_USAGE)
    assert consent.consent_active(session, ALICE, T0 + 100, Category.ENERGY_USAGE)


def test_consent_without_trip_summaries_is_no_driving_consent(session: Session) -> None:
    grant(session, categories=("app_activity",))
    assert not consent.consent_active(session, ALICE, T0)
    assert consent.consent_active(session, ALICE, T0, Category.APP_ACTIVITY)
    assert consent.consent_active(session, ALICE, T0, None)
    assert consent.current_receipt(session, MALLORY) is None
    assert not consent.consent_active(session, MALLORY, T0, None)


def test_revocation_ends_consent_from_now(session: Session) -> None:
    receipt = grant(session, now=T0)
    result = revoke(session, receipt, now=T0 + 3_600, issued_at=T0 + 3_500)
    assert result.receipt == receipt
    assert consent.consent_active(session, ALICE, T0 + 3_599)
    assert not consent.consent_active(session, ALICE, T0 + 3_600)
    assert consent.current_receipt(session, ALICE) is None
    [row] = stored_consents(session)
    assert (row.revoked_at, row.revocation_issued_at) == (T0 + 3_600, T0 + 3_500)
    assert consent.record_verifies(row)


def test_consent_is_unbroken_across_superseding_grants_but_not_across_a_revocation(session: Session) -> None:
    grant(session, now=T0)
    assert not consent.consent_unbroken_since(session, ALICE, T0 - 1)
    assert consent.consent_unbroken_since(session, ALICE, T0)
    grant(session, now=T0 + 100, categories=("trip_summaries", "drive_mode"))
    assert consent.consent_unbroken_since(session, ALICE, T0 + 50)  # chained by the superseding grant
    assert consent.consent_unbroken_since(session, ALICE, T0 + 50, Category.TRIP_SUMMARIES)
    assert not consent.consent_unbroken_since(session, ALICE, T0 + 50, Category.DRIVE_MODE)
    grant(session, now=T0 + 200, categories=("app_activity",))  # drops trip summaries: a break
    assert not consent.consent_unbroken_since(session, ALICE, T0 + 150)
    fourth = grant(session, now=T0 + 300)
    assert not consent.consent_unbroken_since(session, ALICE, T0 + 150)  # a new grant does not mend it
    assert consent.consent_unbroken_since(session, ALICE, T0 + 300)
    revoke(session, fourth, now=T0 + 400)
    assert not consent.consent_unbroken_since(session, ALICE, T0 + 350)
    assert not consent.consent_unbroken_since(session, ALICE, T0 + 400)


@pytest.mark.parametrize(
    ("spans", "since", "unbroken"),
    [
        ([], 0, False),
        ([(10, None)], 9, False),
        ([(10, None)], 10, True),
        ([(10, 20), (20, None)], 10, True),  # superseded: seamless
        ([(10, 20), (21, None)], 15, False),  # revoked, granted again a second later: broken
        ([(10, 20), (21, None)], 21, True),
        ([(10, 20), (15, 30), (30, None)], 12, True),  # overlapping spans still cover
        ([(10, 20)], 20, False),
        ([(5, 5), (5, None)], 5, True),  # a grant superseded in its own second
    ],
)
def test_unbroken_since_follows_the_chain_of_spans(
    spans: list[tuple[int, int | None]], since: int, unbroken: bool
) -> None:
    assert consent.unbroken_since(spans, since) is unbroken


def test_revocation_errors(session: Session) -> None:
    first = grant(session, now=T0)
    with pytest.raises(NotFoundError):
        revoke(session, "0x" + "11" * 32, now=T0 + 10)
    with pytest.raises(NotFoundError):  # the receipt exists, but it is not Mallory's
        revoke(session, first, now=T0 + 10, key=MALLORY_KEY, owner=MALLORY)
    with pytest.raises(SignatureError, match="not by the owner"):
        revoke(session, first, now=T0 + 10, key=MALLORY_KEY)
    with pytest.raises(SignatureError, match="expired"):
        revoke(session, first, now=T0 + 10, issued_at=T0 + 700)
    second = grant(session, now=T0 + 20)
    with pytest.raises(ConflictError, match="already ended"):
        revoke(session, first, now=T0 + 30)
    revoke(session, second, now=T0 + 40)
    with pytest.raises(ConflictError, match="already ended"):
        revoke(session, second, now=T0 + 41)


def test_stored_records_re_verify_and_tampering_shows(session: Session) -> None:
    receipt = grant(session, now=T0)
    revoke(session, receipt, now=T0 + 60)
    [row] = stored_consents(session)
    assert consent.record_verifies(row)
    row.categories = json.dumps(["trip_summaries", "app_activity"])
    assert not consent.record_verifies(row)
    row.categories = json.dumps(list(DRIVING))
    row.revocation_issued_at = T0 + 61
    assert not consent.record_verifies(row)
    row.revocation_issued_at = T0 + 60
    row.chain_id = CHAIN + 1
    assert not consent.record_verifies(row)


# --- forgetting trip details ----------------------------------------------------------------------------

NOW: Final = T0 + 40 * 86_400
CUTOFF: Final = NOW - consent.TRIP_WINDOW_S
SOLD: Final = NOW - 10 * 86_400
BOB_KEY: Final = bytes([0x03]) * 32
BOB: Final = str(Account.from_key(BOB_KEY).address)


def _fleet(session: Session) -> dict[str, Trip]:
    """Alice owns YS-0001 until SOLD (then Bob) and YS-0002; Bob owns YS-0003; trips around the cutoff."""
    register(session, now=T0)
    register(session, "YS-0002", vin=OTHER_VIN, key=ED_KEY_2, now=T0)
    register(session, "YS-0003", vin=synthetic_vin(3), key=P256_KEY, owner=BOB, now=T0)
    vehicles.transfer_ownership(session, VEHICLE, BOB, SOLD)
    return {
        "old": add_trip(session, VEHICLE, 1, CUTOFF - 100),
        "at_cutoff": add_trip(session, VEHICLE, 2, CUTOFF),
        "after_cutoff": add_trip(session, VEHICLE, 3, CUTOFF + 1),
        "before_sale": add_trip(session, VEHICLE, 4, SOLD - 1),
        "bobs_first": add_trip(session, VEHICLE, 5, SOLD),
        "bobs_later": add_trip(session, VEHICLE, 6, SOLD + 100),
        "held": add_trip(session, "YS-0002", 1, NOW - 100, status=TripStatus.HELD),
        "clock_skew": add_trip(session, "YS-0002", 2, NOW + 200),
        "bobs_car": add_trip(session, "YS-0003", 1, NOW - 100),
    }


def test_revocation_deletes_old_trips_and_redacts_those_in_the_window(session: Session) -> None:
    trips = _fleet(session)
    ids = {name: trip.id for name, trip in trips.items()}
    receipt = grant(session, now=NOW - 1_000)
    metres_before = ingest.valid_metres_by_vehicle(session, CUTOFF, NOW)
    assert metres_before == {VEHICLE: 40_000, "YS-0003": 10_000}  # the held trip does not count

    result = revoke(session, receipt, now=NOW)
    assert result.purge == consent.TripPurge(deleted=2, redacted=4)
    session.expire_all()
    remaining = {trip.id: trip for trip in session.scalars(select(Trip))}
    assert ids["old"] not in remaining
    assert ids["at_cutoff"] not in remaining
    for name in ("after_cutoff", "before_sale", "held", "clock_skew"):
        trip = remaining[ids[name]]
        original = trips[name]
        assert trip.details_deleted
        assert (trip.vehicle_id, trip.seq, trip.payload_hash, trip.ended_at, trip.status) == (
            original.vehicle_id,
            original.seq,
            original.payload_hash,
            original.ended_at,
            original.status,
        )
        assert (trip.odometer_start_m, trip.odometer_end_m, trip.energy_wh) == (0, 0, 0)
        assert (trip.drive_mode, trip.checkin_ids, trip.started_at) == ("", "[]", trip.ended_at)
        assert trip.detail is not None
        assert "m in" not in trip.detail
    for name in ("bobs_first", "bobs_later", "bobs_car"):
        assert not remaining[ids[name]].details_deleted
    # Alice's mileage no longer counts; Bob's, on the car he bought and on his own, still does.
    assert ingest.valid_metres_by_vehicle(session, CUTOFF, NOW) == {VEHICLE: 20_000, "YS-0003": 10_000}
    assert ingest.vehicles_with_open_holds(session, NOW) == {"YS-0002"}  # redaction keeps the status
    assert consent.forget_trip_details(session, ALICE, NOW) == consent.TripPurge(0, 0)
    # Run again later, it deletes the skeletons that have left the window since.
    assert consent.forget_trip_details(session, ALICE, NOW + 1) == consent.TripPurge(1, 0)


def test_a_grant_without_trip_summaries_forgets_trip_details_too(session: Session) -> None:
    _fleet(session)
    grant(session, now=NOW - 1_000)
    grant(session, now=NOW, categories=("app_activity",))
    assert session.scalar(select(func.count()).select_from(Trip).where(Trip.details_deleted)) == 4
    assert session.scalar(select(func.count()).select_from(Trip)) == 7
