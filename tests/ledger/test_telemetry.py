"""Trip reports (issue 3 telemetry): vectors, shape rules, each verdict reason, the order of the steps.

The vectors in ``vectors/trip_reports.json`` pin the wire format: a change to the encoding, the hash or the
signature scheme fails here. ``FakeContext`` is an in-memory double of the store's ``TelemetryContext``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import ValidationError
from ledger.telemetry import (
    DOMAIN,
    ENERGY_CHECK_MIN_DISTANCE_M,
    MAX_CHECKINS,
    MAX_CLOCK_SKEW_S,
    MAX_REPORT_AGE_S,
    MAX_SPEED_KMH,
    MAX_TRIP_DURATION_S,
    MAX_WH_PER_KM,
    MIN_WH_PER_KM,
    REASON_STATUS,
    Algorithm,
    DeviceKey,
    DriveMode,
    PrivateKey,
    Reason,
    Status,
    TripReport,
    TripSummary,
    Verdict,
    canonical_bytes,
    load_public_key,
    parse_report,
    payload_hash,
    report_to_json,
    sign_report,
    signature_valid,
    trip_distance_m,
    valid_mileage_m,
    verify,
    verify_report,
)
from tests.ledger.vectors import make_trip_vectors

ROOT: Final = Path(__file__).resolve().parents[2]
VECTORS: Final[dict[str, Any]] = json.loads(
    (ROOT / "tests/ledger/vectors/trip_reports.json").read_text(encoding="utf-8")
)
WIRE_FORMAT_DOC: Final = (ROOT / "docs/wire-format.md").read_text(encoding="utf-8")

ED_KEY: Final = ed25519.Ed25519PrivateKey.from_private_bytes(
    bytes.fromhex(VECTORS["keys"]["ed25519"]["seed_hex"])
)
P256_KEY: Final = ec.derive_private_key(
    int(VECTORS["keys"]["p256"]["private_scalar_hex"], 16), ec.SECP256R1()
)
OTHER_ED_KEY: Final = ed25519.Ed25519PrivateKey.from_private_bytes(bytes([0x77]) * 32)

NOW: Final = 1_767_300_000
VEHICLE: Final = "YS-TEST-0001"
LAST_TRIP: Final = TripSummary(seq=6, started_at=NOW - 9_000, ended_at=NOW - 7_200, odometer_end_m=10_000_000)


def raw_public(key: PrivateKey, *, compressed: bool = False) -> bytes:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    point = (
        serialization.PublicFormat.CompressedPoint
        if compressed
        else serialization.PublicFormat.UncompressedPoint
    )
    return key.public_key().public_bytes(serialization.Encoding.X962, point)


def device(key: PrivateKey, *, revoked: bool = False) -> DeviceKey:
    algorithm = Algorithm.ED25519 if isinstance(key, ed25519.Ed25519PrivateKey) else Algorithm.P256
    return DeviceKey(algorithm, raw_public(key), revoked)


@dataclass
class FakeContext:
    """In-memory stand-in for the store; ``record`` does what the store does with a verdict."""

    keys: dict[str, DeviceKey] = field(default_factory=lambda: {VEHICLE: device(ED_KEY)})
    sequences: set[tuple[str, int]] = field(default_factory=set)
    payloads: set[bytes] = field(default_factory=set)
    last: dict[str, TripSummary] = field(default_factory=lambda: {VEHICLE: LAST_TRIP})
    consent_windows: dict[str, tuple[int, int]] = field(default_factory=lambda: {VEHICLE: (0, 2**64)})

    def device_key(self, vehicle_id: str) -> DeviceKey | None:
        return self.keys.get(vehicle_id)

    def seen_sequence(self, vehicle_id: str, seq: int) -> bool:
        return (vehicle_id, seq) in self.sequences

    def seen_payload(self, payload_hash: bytes) -> bool:
        return payload_hash in self.payloads

    def last_trip(self, vehicle_id: str) -> TripSummary | None:
        return self.last.get(vehicle_id)

    def consent_active(self, vehicle_id: str, at: int) -> bool:
        start, end = self.consent_windows.get(vehicle_id, (0, 0))
        return start <= at < end

    def record(self, verdict: Verdict) -> None:
        if not verdict.recorded:
            return
        assert verdict.report is not None
        assert verdict.payload_hash is not None
        self.sequences.add((verdict.report.vehicle_id, verdict.report.seq))
        self.payloads.add(verdict.payload_hash)
        self.last[verdict.report.vehicle_id] = TripSummary.of(verdict.report)


def draft(**changes: Any) -> TripReport:
    """A plausible unsigned trip right after ``LAST_TRIP``: 30 km in 30 minutes at 150 Wh/km."""
    base = TripReport(
        vehicle_id=VEHICLE,
        seq=7,
        started_at=NOW - 3_600,
        ended_at=NOW - 1_800,
        odometer_start_m=10_000_000,
        odometer_end_m=10_030_000,
        energy_wh=4_500,
        drive_mode=DriveMode.ECO,
        checkin_ids=("checkin-1",),
        algorithm=Algorithm.ED25519,
    )
    return replace(base, **changes)


def signed(report: TripReport | None = None, key: PrivateKey = ED_KEY) -> TripReport:
    return sign_report(report or draft(), key)


def check(report: TripReport, ctx: FakeContext | None = None, now: int = NOW) -> Verdict:
    return verify_report(report, ctx or FakeContext(), now)


# --- vectors -----------------------------------------------------------------------------------------

VECTOR_CASES: Final = [pytest.param(v, id=v["name"]) for v in VECTORS["vectors"]]
VECTOR_BY_NAME: Final = {v["name"]: v for v in VECTORS["vectors"]}
KEYS: Final = VECTORS["keys"]
VECTOR_KEYS: Final = {
    "ed25519": [DeviceKey(Algorithm.ED25519, bytes.fromhex(KEYS["ed25519"]["public_key_hex"]))],
    "p256": [
        DeviceKey(Algorithm.P256, bytes.fromhex(KEYS["p256"]["public_key_uncompressed_hex"])),
        DeviceKey(Algorithm.P256, bytes.fromhex(KEYS["p256"]["public_key_compressed_hex"])),
    ],
}


def test_vector_file_is_what_the_generator_writes() -> None:
    assert make_trip_vectors.build() == VECTORS


def test_vector_keys_derive_from_their_seeds() -> None:
    assert raw_public(ED_KEY).hex() == KEYS["ed25519"]["public_key_hex"]
    assert raw_public(P256_KEY).hex() == KEYS["p256"]["public_key_uncompressed_hex"]
    assert raw_public(P256_KEY, compressed=True).hex() == KEYS["p256"]["public_key_compressed_hex"]


@pytest.mark.parametrize("vector", VECTOR_CASES)
def test_vector_canonical_bytes_and_hash(vector: dict[str, Any]) -> None:
    report = parse_report(vector["report"])
    assert canonical_bytes(report).hex() == vector["canonical_hex"]
    assert payload_hash(report).hex() == vector["payload_hash_hex"]
    assert report_to_json(report) == vector["report"]


@pytest.mark.parametrize("vector", VECTOR_CASES)
def test_vector_signature_verifies_under_every_key_form(vector: dict[str, Any]) -> None:
    report = parse_report(vector["report"])
    message = bytes.fromhex(vector["canonical_hex"])
    for key in VECTOR_KEYS[report.algorithm]:
        assert signature_valid(key, message, report.signature)


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=f"{c['key']}: {c['case']}") for c in VECTORS["signature_cases"]]
)
def test_vector_signature_cases(case: dict[str, Any]) -> None:
    message = bytes.fromhex(VECTOR_BY_NAME[case["message_of"]]["canonical_hex"])
    signature = bytes.fromhex(case["signature_hex"])
    for key in VECTOR_KEYS[case["key"]]:
        assert signature_valid(key, message, signature) is case["valid"]


def decode_canonical(data: bytes) -> dict[str, object]:
    """An independent reader of the layout in docs/wire-format.md, to check the encoder against the spec."""
    assert data[:16] == b"YUANSHI/TRIP/v1\x00"
    names = ("seq", "started_at", "ended_at", "odometer_start_m", "odometer_end_m", "energy_wh")
    fields_: dict[str, object] = {
        name: int.from_bytes(data[17 + 8 * i : 25 + 8 * i], "big") for i, name in enumerate(names)
    }
    fields_["algorithm"] = {1: "ed25519", 2: "p256"}[data[16]]
    fields_["drive_mode"] = {1: "normal", 2: "eco", 3: "sport", 4: "assisted"}[data[65]]

    def read_string(at: int) -> tuple[str, int]:
        length = data[at]
        assert 1 <= length <= 64
        return data[at + 1 : at + 1 + length].decode("ascii"), at + 1 + length

    fields_["vehicle_id"], at = read_string(66)
    count, at = data[at], at + 1
    checkins = []
    for _ in range(count):
        checkin, at = read_string(at)
        checkins.append(checkin)
    fields_["checkin_ids"] = checkins
    assert at == len(data), "trailing bytes"
    return fields_


@pytest.mark.parametrize("vector", VECTOR_CASES)
def test_vector_decodes_by_the_documented_layout(vector: dict[str, Any]) -> None:
    expected = {k: v for k, v in vector["report"].items() if k != "signature"}
    assert decode_canonical(bytes.fromhex(vector["canonical_hex"])) == expected


def test_document_shows_the_worked_example_and_every_reason() -> None:
    compact_doc = re.sub(r"\s+", "", WIRE_FORMAT_DOC)
    for name in ("worked_example/ed25519", "worked_example/p256"):
        vector = VECTOR_BY_NAME[name]
        assert vector["canonical_hex"] in compact_doc
        assert vector["payload_hash_hex"] in compact_doc
        assert vector["report"]["signature"] in compact_doc
    for key_hex in (KEYS["ed25519"]["public_key_hex"], KEYS["p256"]["public_key_compressed_hex"]):
        assert key_hex in compact_doc
    for reason in Reason:
        assert f"`{reason.value}`" in WIRE_FORMAT_DOC, reason


# --- shape -------------------------------------------------------------------------------------------


def good_json() -> dict[str, Any]:
    return report_to_json(signed())


def with_field(name: str, value: object) -> Callable[[dict[str, Any]], None]:
    def mutate(obj: dict[str, Any]) -> None:
        obj[name] = value

    return mutate


def without_field(name: str) -> Callable[[dict[str, Any]], None]:
    def mutate(obj: dict[str, Any]) -> None:
        del obj[name]

    return mutate


SIG_HEX: Final = "ab" * 64
SHAPE_CASES: Final = [
    ("unknown field", with_field("gps_trace", []), "unknown fields: 'gps_trace'"),
    *[
        (f"missing {name}", without_field(name), f"missing fields: {name}")
        for name in good_json()
        if name != "checkin_ids"
    ],
    ("bool for int", with_field("seq", True), "'seq': must be an integer, got bool"),
    ("float for int", with_field("energy_wh", 1.0), "'energy_wh': must be an integer, got float"),
    ("string for int", with_field("started_at", "5"), "'started_at': must be an integer, got str"),
    ("null for int", with_field("ended_at", None), "'ended_at': must be an integer, got NoneType"),
    ("negative", with_field("odometer_start_m", -1), "'odometer_start_m': must be in 0..2**64-1"),
    ("over uint64", with_field("odometer_end_m", 2**64), "'odometer_end_m': must be in 0..2**64-1"),
    ("empty vehicle id", with_field("vehicle_id", ""), "'vehicle_id': must be 1..64 characters"),
    ("long vehicle id", with_field("vehicle_id", "v" * 65), "'vehicle_id': must be 1..64 characters"),
    ("vehicle id space", with_field("vehicle_id", "YS 1"), "'vehicle_id': must be 1..64 characters"),
    ("vehicle id non-ascii", with_field("vehicle_id", "车1"), "'vehicle_id': must be 1..64 characters"),
    ("vehicle id newline", with_field("vehicle_id", "YS1\n"), "'vehicle_id': must be 1..64 characters"),
    ("vehicle id number", with_field("vehicle_id", 7), "'vehicle_id': must be a string, got int"),
    ("unknown drive mode", with_field("drive_mode", "ludicrous"), "'drive_mode': must be one of normal, eco"),
    ("drive mode case", with_field("drive_mode", "ECO"), "'drive_mode': must be one of"),
    ("drive mode code", with_field("drive_mode", 2), "'drive_mode': must be a string, got int"),
    ("unknown algorithm", with_field("algorithm", "rsa"), "'algorithm': must be one of ed25519, p256"),
    ("checkins object", with_field("checkin_ids", {"a": 1}), "'checkin_ids': must be an array, got dict"),
    ("too many checkins", with_field("checkin_ids", [f"c{i:02d}" for i in range(17)]), "at most 16 ids"),
    ("duplicate checkins", with_field("checkin_ids", ["a", "a"]), "must be unique, 'a' repeats"),
    ("unsorted checkins", with_field("checkin_ids", ["b", "a"]), "ascending byte order, 'b' precedes 'a'"),
    ("empty checkin", with_field("checkin_ids", [""]), "'checkin_ids': must be 1..64 characters"),
    ("checkin with space", with_field("checkin_ids", ["a b"]), "'checkin_ids': must be 1..64 characters"),
    ("long checkin", with_field("checkin_ids", ["c" * 65]), "'checkin_ids': must be 1..64 characters"),
    ("checkin number", with_field("checkin_ids", [1]), "'checkin_ids': must be a string, got int"),
    ("signature without 0x", with_field("signature", SIG_HEX), "'signature': must be 0x-prefixed hex"),
    (
        "signature odd hex",
        with_field("signature", "0x" + SIG_HEX[:-1]),
        "'signature': must be 0x-prefixed hex",
    ),
    ("signature non-hex", with_field("signature", "0x" + "zz" * 64), "'signature': must be 0x-prefixed hex"),
    ("signature base64", with_field("signature", "q" * 88), "'signature': must be 0x-prefixed hex"),
    (
        "short signature",
        with_field("signature", "0x" + SIG_HEX[:-2]),
        "'signature': must be 64 bytes, got 63",
    ),
    ("empty signature", with_field("signature", "0x"), "'signature': must be 64 bytes, got 0"),
    ("signature bytes", with_field("signature", b"\x00" * 64), "'signature': must be a string, got bytes"),
]


@pytest.mark.parametrize(("mutate", "message"), [pytest.param(m, e, id=i) for i, m, e in SHAPE_CASES])
def test_each_shape_rule_has_its_own_message(mutate: Callable[[dict[str, Any]], None], message: str) -> None:
    obj = good_json()
    mutate(obj)
    with pytest.raises(ValidationError, match=re.escape(message)):
        parse_report(obj)
    verdict = verify(obj, FakeContext(), NOW)
    assert (verdict.status, verdict.reason, verdict.report, verdict.payload_hash) == (
        Status.REJECTED,
        Reason.MALFORMED,
        None,
        None,
    )
    assert message in verdict.detail


@pytest.mark.parametrize("raw", [[], "report", None, 7])
def test_report_must_be_an_object(raw: object) -> None:
    with pytest.raises(ValidationError, match="must be a JSON object"):
        parse_report(raw)


def test_checkins_may_be_omitted_and_uppercase_hex_is_read() -> None:
    obj = good_json()
    del obj["checkin_ids"]
    obj["signature"] = obj["signature"].upper().replace("0X", "0x")
    report = parse_report(obj)
    assert report.checkin_ids == ()
    assert report.signature == signed().signature


def test_limits_are_inclusive() -> None:
    ids = tuple(f"{i:02d}" + "x" * 62 for i in range(MAX_CHECKINS))
    report = draft(vehicle_id="v" * 64, seq=2**64 - 1, checkin_ids=ids)
    assert parse_report(report_to_json(replace(report, signature=bytes(64)))).checkin_ids == ids


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"drive_mode": 2}, "'drive_mode': must be a DriveMode"),
        ({"algorithm": "ed25519"}, "'algorithm': must be a Algorithm"),
        ({"checkin_ids": ["a"]}, "'checkin_ids': must be a tuple"),
        ({"signature": b"\x00" * 63}, "'signature': must be 64 bytes, got 63"),
        ({"signature": "00" * 64}, "'signature': must be bytes"),
        ({"seq": False}, "'seq': must be an integer, got bool"),
    ],
)
def test_constructing_a_report_enforces_the_same_rules(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        draft(**changes)


def test_error_details_do_not_echo_huge_input() -> None:
    with pytest.raises(ValidationError) as caught:
        draft(vehicle_id="x" * 1_000_000)
    assert len(str(caught.value)) < 200


# --- keys and signing --------------------------------------------------------------------------------

OFF_CURVE: Final = b"\x04" + b"\x01" * 64


@pytest.mark.parametrize(
    ("algorithm", "raw", "message"),
    [
        (Algorithm.ED25519, b"\x01" * 31, "Ed25519 public key is 32 raw bytes, got 31"),
        (Algorithm.ED25519, b"\x01" * 33, "Ed25519 public key is 32 raw bytes, got 33"),
        (Algorithm.P256, b"\x04" + b"\x01" * 63, "P-256 public key is SEC1"),
        (Algorithm.P256, b"\x02" + b"\x01" * 64, "P-256 public key is SEC1"),
        (Algorithm.P256, b"\x04" + b"\x01" * 32, "P-256 public key is SEC1"),
        (Algorithm.P256, b"\x06" + b"\x01" * 64, "P-256 public key is SEC1"),
        (Algorithm.P256, OFF_CURVE, "not a point on the curve"),
    ],
)
def test_malformed_device_keys_are_refused(algorithm: Algorithm, raw: bytes, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        load_public_key(algorithm, raw)
    with pytest.raises(ValidationError):
        DeviceKey(algorithm, raw)


@pytest.mark.parametrize("algorithm", ["ed25519", "rsa", 1])
def test_device_key_algorithm_must_be_the_enum(algorithm: object) -> None:
    with pytest.raises(ValidationError, match="device key algorithm must be an Algorithm"):
        DeviceKey(algorithm, raw_public(ED_KEY))  # type: ignore[arg-type]


def test_hybrid_sec1_point_is_refused_even_when_on_the_curve() -> None:
    uncompressed = raw_public(P256_KEY)
    hybrid = bytes([6 + (uncompressed[-1] & 1)]) + uncompressed[1:]
    with pytest.raises(ValidationError, match="SEC1"):
        load_public_key(Algorithm.P256, hybrid)


def test_signing_needs_the_reports_algorithm_and_curve() -> None:
    with pytest.raises(ValidationError, match="cannot sign a p256 report"):
        sign_report(draft(algorithm=Algorithm.P256), ED_KEY)
    with pytest.raises(ValidationError, match="cannot sign a ed25519 report"):
        sign_report(draft(), P256_KEY)
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(ValidationError, match="must be on P-256"):
        sign_report(draft(algorithm=Algorithm.P256), p384)


def test_randomised_p256_signatures_verify() -> None:
    report = draft(algorithm=Algorithm.P256)
    message = canonical_bytes(report)
    for _ in range(5):
        r, s = decode_dss_signature(P256_KEY.sign(message, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        assert (
            check(replace(report, signature=signature), FakeContext(keys={VEHICLE: device(P256_KEY)})).reason
            is Reason.OK
        )


def test_signature_of_wrong_length_never_verifies() -> None:
    message = canonical_bytes(draft())
    assert not signature_valid(device(ED_KEY), message, ED_KEY.sign(message)[:63])
    assert not signature_valid(device(ED_KEY), message, ED_KEY.sign(message) + b"\x00")


# --- verdicts ----------------------------------------------------------------------------------------

EXPECTED_STATUS: Final = {
    Reason.OK: Status.ACCEPTED,
    Reason.DUPLICATE: Status.DUPLICATE,
    Reason.MALFORMED: Status.REJECTED,
    Reason.UNKNOWN_DEVICE: Status.REJECTED,
    Reason.DEVICE_REVOKED: Status.REJECTED,
    Reason.ALGORITHM_MISMATCH: Status.REJECTED,
    Reason.BAD_SIGNATURE: Status.REJECTED,
    Reason.REPLAYED_SEQUENCE: Status.REJECTED,
    Reason.STALE: Status.REJECTED,
    Reason.FROM_FUTURE: Status.REJECTED,
    Reason.NON_POSITIVE_DURATION: Status.HELD,
    Reason.ODOMETER_DECREASING: Status.HELD,
    Reason.TRIP_TOO_LONG: Status.HELD,
    Reason.OUT_OF_ORDER: Status.HELD,
    Reason.ODOMETER_WENT_BACK: Status.HELD,
    Reason.OVERLAPS_PREVIOUS: Status.HELD,
    Reason.TOO_FAST: Status.HELD,
    Reason.ENERGY_TOO_LOW: Status.HELD,
    Reason.ENERGY_TOO_HIGH: Status.HELD,
    Reason.NO_CONSENT: Status.REJECTED,
}


def test_every_reason_has_its_documented_status() -> None:
    assert dict(REASON_STATUS) == EXPECTED_STATUS


def test_verdict_refuses_a_status_its_reason_does_not_imply() -> None:
    with pytest.raises(ValueError, match="implies status held"):
        Verdict(Status.ACCEPTED, Reason.TOO_FAST, "")


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_plausible_signed_report_is_accepted(algorithm: Algorithm) -> None:
    key: PrivateKey = ED_KEY if algorithm is Algorithm.ED25519 else P256_KEY
    report = signed(draft(algorithm=algorithm), key)
    verdict = verify(report_to_json(report), FakeContext(keys={VEHICLE: device(key)}), NOW)
    assert (verdict.status, verdict.reason) == (Status.ACCEPTED, Reason.OK)
    assert verdict.report == report
    assert verdict.payload_hash == payload_hash(report)
    assert verdict.recorded
    assert valid_mileage_m(verdict) == 30_000


def test_first_trip_of_a_car_has_no_history_to_contradict() -> None:
    ctx = FakeContext(last={})
    assert check(signed(draft(seq=0, odometer_start_m=5, odometer_end_m=30_005)), ctx).reason is Reason.OK


def test_unsigned_report_is_malformed() -> None:
    verdict = check(draft())
    assert (verdict.status, verdict.reason) == (Status.REJECTED, Reason.MALFORMED)
    assert verdict.payload_hash == payload_hash(draft())


def test_unknown_device() -> None:
    verdict = check(signed(draft(vehicle_id="YS-NOBODY")))
    assert (verdict.status, verdict.reason) == (Status.REJECTED, Reason.UNKNOWN_DEVICE)


def test_revoked_device() -> None:
    verdict = check(signed(), FakeContext(keys={VEHICLE: device(ED_KEY, revoked=True)}))
    assert (verdict.status, verdict.reason) == (Status.REJECTED, Reason.DEVICE_REVOKED)


def test_algorithm_must_match_the_registered_key() -> None:
    report = signed(draft(algorithm=Algorithm.P256), P256_KEY)
    verdict = check(report)  # the car's registered key is Ed25519
    assert (verdict.status, verdict.reason) == (Status.REJECTED, Reason.ALGORITHM_MISMATCH)


def test_signature_by_another_key_is_rejected() -> None:
    verdict = check(signed(key=OTHER_ED_KEY))
    assert (verdict.status, verdict.reason) == (Status.REJECTED, Reason.BAD_SIGNATURE)
    assert valid_mileage_m(verdict) == 0


@pytest.mark.parametrize(
    "changes",
    [
        {"seq": 8},
        {"odometer_end_m": 10_030_001},
        {"energy_wh": 4_501},
        {"drive_mode": DriveMode.SPORT},
        {"checkin_ids": ()},
        {"checkin_ids": ("checkin-2",)},
        {"ended_at": NOW - 1_799},
    ],
)
def test_changing_any_signed_field_breaks_the_signature(changes: dict[str, Any]) -> None:
    tampered = replace(signed(), **changes)
    assert check(tampered).reason is Reason.BAD_SIGNATURE


def test_same_report_twice_is_a_duplicate_that_changes_nothing() -> None:
    ctx = FakeContext()
    first = check(signed(), ctx)
    ctx.record(first)
    before = (set(ctx.sequences), set(ctx.payloads), dict(ctx.last))
    again = check(signed(), ctx)
    ctx.record(again)
    assert (again.status, again.reason, again.recorded) == (Status.DUPLICATE, Reason.DUPLICATE, False)
    assert again.payload_hash == first.payload_hash
    assert valid_mileage_m(again) == 0
    assert (ctx.sequences, ctx.payloads, ctx.last) == before


def test_resigned_p256_report_is_the_same_report() -> None:
    ctx = FakeContext(keys={VEHICLE: device(P256_KEY)})
    report = signed(draft(algorithm=Algorithm.P256), P256_KEY)
    ctx.record(check(report, ctx))
    r, s = decode_dss_signature(P256_KEY.sign(canonical_bytes(report), ec.ECDSA(hashes.SHA256())))
    resigned = replace(report, signature=r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    assert resigned.signature != report.signature
    assert check(resigned, ctx).status is Status.DUPLICATE


def test_other_report_reusing_a_sequence_is_a_replay() -> None:
    ctx = FakeContext()
    ctx.record(check(signed(), ctx))
    later = signed(draft(started_at=NOW - 1_000, ended_at=NOW - 100, odometer_start_m=10_030_000))
    verdict = check(later, ctx)
    assert (verdict.status, verdict.reason) == (Status.REJECTED, Reason.REPLAYED_SEQUENCE)


@pytest.mark.parametrize(
    ("ended_at", "reason"),
    [
        (NOW - MAX_REPORT_AGE_S, Reason.OK),
        (NOW - MAX_REPORT_AGE_S - 1, Reason.STALE),
        (NOW + MAX_CLOCK_SKEW_S, Reason.OK),
        (NOW + MAX_CLOCK_SKEW_S + 1, Reason.FROM_FUTURE),
    ],
)
def test_freshness_bounds(ended_at: int, reason: Reason) -> None:
    report = signed(draft(started_at=ended_at - 1_800, ended_at=ended_at))
    assert check(report, FakeContext(last={})).reason is reason


def test_a_report_from_the_future_can_be_sent_again_once_its_time_has_come() -> None:
    ctx = FakeContext()
    report = signed(draft(started_at=NOW, ended_at=NOW + 1_800))
    refused = check(report, ctx)
    ctx.record(refused)
    assert refused.reason is Reason.FROM_FUTURE
    assert check(report, ctx, now=NOW + 1_800).reason is Reason.OK


HOLD_CASES: Final = [
    ({"ended_at": NOW - 3_600}, Reason.NON_POSITIVE_DURATION),
    ({"ended_at": NOW - 3_601}, Reason.NON_POSITIVE_DURATION),
    ({"odometer_start_m": 11_000_000, "odometer_end_m": 10_999_999}, Reason.ODOMETER_DECREASING),
    ({"started_at": NOW - 1_800 - MAX_TRIP_DURATION_S - 1}, Reason.TRIP_TOO_LONG),
    ({"seq": 5}, Reason.OUT_OF_ORDER),
    ({"odometer_start_m": 9_999_999}, Reason.ODOMETER_WENT_BACK),
    ({"started_at": LAST_TRIP.ended_at - 1}, Reason.OVERLAPS_PREVIOUS),
    ({"odometer_end_m": 10_000_000 + 125_001, "energy_wh": 18_750}, Reason.TOO_FAST),
    ({"energy_wh": 1_499}, Reason.ENERGY_TOO_LOW),
    ({"energy_wh": 18_001}, Reason.ENERGY_TOO_HIGH),
]


@pytest.mark.parametrize(("changes", "reason"), [pytest.param(c, r, id=r.value) for c, r in HOLD_CASES])
def test_implausible_authentic_report_is_held_and_recorded(changes: dict[str, Any], reason: Reason) -> None:
    ctx = FakeContext()
    verdict = check(signed(draft(**changes)), ctx)
    assert (verdict.status, verdict.reason) == (Status.HELD, reason)
    assert verdict.recorded, "a held report is stored for review, never dropped"
    assert valid_mileage_m(verdict) == 0, "held mileage counts only once released"
    ctx.record(verdict)
    assert check(signed(draft(**changes)), ctx).status is Status.DUPLICATE


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"odometer_end_m": 10_000_000 + 125_000, "energy_wh": 18_750}, id="exactly 250 km/h"),
        pytest.param({"energy_wh": 1_500}, id="exactly 50 Wh/km"),
        pytest.param({"energy_wh": 18_000}, id="exactly 600 Wh/km"),
        pytest.param({"started_at": LAST_TRIP.ended_at}, id="starts as the last trip ends"),
        pytest.param({"odometer_start_m": 10_000_500, "odometer_end_m": 10_030_500}, id="odometer gap"),
        pytest.param({"seq": 100}, id="sequence gap"),
    ],
)
def test_plausibility_bounds_are_inclusive(changes: dict[str, Any]) -> None:
    assert check(signed(draft(**changes))).reason is Reason.OK


def test_a_trip_of_exactly_the_maximum_duration_is_plausible() -> None:
    day_long = draft(started_at=NOW - 1_800 - MAX_TRIP_DURATION_S, odometer_end_m=10_000_000)
    assert check(signed(day_long), FakeContext(last={})).reason is Reason.OK


@pytest.mark.parametrize("energy_wh", [0, 10**6])
def test_energy_is_not_judged_below_the_minimum_distance(energy_wh: int) -> None:
    short = draft(odometer_end_m=10_000_000 + ENERGY_CHECK_MIN_DISTANCE_M - 1, energy_wh=energy_wh)
    assert check(signed(short)).reason is Reason.OK


def test_energy_is_judged_from_the_minimum_distance_on() -> None:
    just_long_enough = draft(odometer_end_m=10_000_000 + ENERGY_CHECK_MIN_DISTANCE_M, energy_wh=0)
    assert check(signed(just_long_enough)).reason is Reason.ENERGY_TOO_LOW


def test_zero_distance_trip_is_accepted_and_earns_nothing() -> None:
    verdict = check(signed(draft(odometer_end_m=10_000_000, energy_wh=300)))
    assert verdict.status is Status.ACCEPTED
    assert valid_mileage_m(verdict) == 0


def test_trip_distance_of_a_backward_odometer_is_zero() -> None:
    assert trip_distance_m(draft(odometer_start_m=11, odometer_end_m=10)) == 0
    assert trip_distance_m(draft()) == 30_000


def test_bounds_are_the_documented_constants() -> None:
    assert (MAX_SPEED_KMH, MIN_WH_PER_KM, MAX_WH_PER_KM) == (250, 50, 600)
    assert (MAX_REPORT_AGE_S, MAX_CLOCK_SKEW_S, MAX_TRIP_DURATION_S) == (7 * 86_400, 300, 86_400)
    assert DOMAIN == b"YUANSHI/TRIP/v1\x00"


@pytest.mark.parametrize(
    ("window", "reason"),
    [
        pytest.param((0, 0), Reason.NO_CONSENT, id="never consented"),
        pytest.param((0, NOW - 1_800), Reason.NO_CONSENT, id="revoked just before the trip ended"),
        pytest.param((NOW - 1_800, 2**64), Reason.OK, id="consented as the trip ended"),
        pytest.param((NOW - 2_000, NOW - 1_799), Reason.OK, id="active at the end only"),
    ],
)
def test_consent_is_judged_at_the_trips_end(window: tuple[int, int], reason: Reason) -> None:
    verdict = check(signed(), FakeContext(consent_windows={VEHICLE: window}))
    assert verdict.reason is reason
    if reason is Reason.NO_CONSENT:
        assert (verdict.status, verdict.recorded) == (Status.REJECTED, False)


def test_held_trip_becomes_the_history_the_next_trip_is_judged_against() -> None:
    ctx = FakeContext()
    held = check(signed(draft(odometer_end_m=10_900_000, energy_wh=135_000)), ctx)  # 900 km in 30 min
    ctx.record(held)
    assert held.reason is Reason.TOO_FAST
    following = draft(seq=8, started_at=NOW - 1_000, ended_at=NOW - 500, odometer_start_m=10_030_000)
    assert check(signed(following), ctx).reason is Reason.ODOMETER_WENT_BACK


# --- the order of the steps ----------------------------------------------------------------------------


def test_steps_run_in_the_documented_order() -> None:
    """A report broken at every step, repaired one step at a time: the earliest break decides."""
    too_fast = draft(odometer_end_m=10_900_000, energy_wh=135_000)
    state: dict[str, Any] = {
        "raw_extra": True,
        "key": None,
        "revoked": True,
        "key_algorithm": Algorithm.P256,
        "signer": OTHER_ED_KEY,
        "seen_seq": True,
        "now": NOW + MAX_REPORT_AGE_S,
        "consent": (0, 0),
        "report": too_fast,
    }

    def run() -> Verdict:
        report = signed(state["report"], state["signer"])
        key = state["key"]
        if key is not None:
            public = (
                raw_public(ED_KEY) if state["key_algorithm"] is Algorithm.ED25519 else raw_public(P256_KEY)
            )
            key = DeviceKey(state["key_algorithm"], public, state["revoked"])
        ctx = FakeContext(
            keys={VEHICLE: key} if key is not None else {},
            sequences={(VEHICLE, report.seq)} if state["seen_seq"] else set(),
            consent_windows={VEHICLE: state["consent"]},
        )
        raw = report_to_json(report) | ({"extra": 1} if state["raw_extra"] else {})
        return verify(raw, ctx, state["now"])

    repairs: list[tuple[Reason, dict[str, Any]]] = [
        (Reason.MALFORMED, {"raw_extra": False}),
        (Reason.UNKNOWN_DEVICE, {"key": "registered"}),
        (Reason.DEVICE_REVOKED, {"revoked": False}),
        (Reason.ALGORITHM_MISMATCH, {"key_algorithm": Algorithm.ED25519}),
        (Reason.BAD_SIGNATURE, {"signer": ED_KEY}),
        (Reason.REPLAYED_SEQUENCE, {"seen_seq": False}),
        (Reason.STALE, {"now": NOW}),
        (Reason.NO_CONSENT, {"consent": (0, 2**64)}),
        (Reason.TOO_FAST, {"report": draft()}),
        (Reason.OK, {}),
    ]
    seen = []
    for expected, repair in repairs:
        seen.append(run().reason)
        assert seen[-1] is expected, seen
        state.update(repair)


def test_badly_signed_implausible_report_is_rejected_not_held() -> None:
    verdict = check(signed(draft(odometer_end_m=10_900_000), OTHER_ED_KEY))
    assert (verdict.status, verdict.reason) == (Status.REJECTED, Reason.BAD_SIGNATURE)


def test_duplicate_is_recognised_before_freshness_and_plausibility() -> None:
    ctx = FakeContext()
    report = signed(draft(odometer_end_m=10_900_000, energy_wh=135_000))
    ctx.record(check(report, ctx))
    assert check(report, ctx, now=NOW + 30 * 86_400).status is Status.DUPLICATE


def test_intrinsic_breaks_precede_history_and_physics() -> None:
    report = signed(draft(seq=5, ended_at=NOW - 3_600, odometer_end_m=10_900_000))
    assert check(report).reason is Reason.NON_POSITIVE_DURATION
    report = signed(draft(seq=5, odometer_start_m=9_000_000, odometer_end_m=10_900_000))
    assert check(report).reason is Reason.OUT_OF_ORDER


# --- properties --------------------------------------------------------------------------------------

ascii_ids = st.text(alphabet="ABCabc019_-", min_size=1, max_size=64)
checkin_ids = st.lists(
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=64),
    max_size=MAX_CHECKINS,
    unique=True,
).map(lambda ids: tuple(sorted(ids)))
uint64 = st.one_of(st.integers(0, 2**64 - 1), st.sampled_from([0, 1, 255, 256, 2**32, 2**64 - 1]))


@st.composite
def reports(draw: st.DrawFn) -> TripReport:
    return TripReport(
        vehicle_id=draw(ascii_ids),
        seq=draw(uint64),
        started_at=draw(uint64),
        ended_at=draw(uint64),
        odometer_start_m=draw(uint64),
        odometer_end_m=draw(uint64),
        energy_wh=draw(uint64),
        drive_mode=draw(st.sampled_from(DriveMode)),
        checkin_ids=draw(checkin_ids),
        algorithm=draw(st.sampled_from(Algorithm)),
        signature=draw(st.binary(min_size=64, max_size=64)),
    )


@given(reports())
def test_json_round_trip(report: TripReport) -> None:
    assert parse_report(report_to_json(report)) == report
    assert parse_report(json.loads(json.dumps(report_to_json(report)))) == report


@given(reports())
def test_canonical_bytes_follow_the_documented_layout(report: TripReport) -> None:
    expected = {k: v for k, v in report_to_json(report).items() if k != "signature"}
    assert decode_canonical(canonical_bytes(report)) == expected


def unsigned(report: TripReport) -> TripReport:
    return replace(report, signature=b"")


@given(reports(), reports())
def test_distinct_reports_have_distinct_bytes(first: TripReport, second: TripReport) -> None:
    if unsigned(first) != unsigned(second):
        assert canonical_bytes(first) != canonical_bytes(second)
        assert payload_hash(first) != payload_hash(second)


@given(reports(), st.data())
def test_reports_differing_in_one_field_have_distinct_bytes(report: TripReport, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(report_to_json(report).keys() - {"signature"})))
    other = data.draw(reports())
    altered = replace(report, **{name: getattr(other, name)})
    if unsigned(altered) != unsigned(report):
        assert canonical_bytes(altered) != canonical_bytes(report)


def test_moving_a_byte_between_adjacent_strings_changes_the_encoding() -> None:
    base = draft(vehicle_id="ab", checkin_ids=("c",))
    assert canonical_bytes(base) != canonical_bytes(replace(base, vehicle_id="a", checkin_ids=("bc",)))
    assert canonical_bytes(replace(base, checkin_ids=("a", "b"))) != canonical_bytes(
        replace(base, checkin_ids=("ab",))
    )


SIGNED_EXAMPLES: Final = {
    Algorithm.ED25519: (device(ED_KEY), signed(draft(), ED_KEY)),
    Algorithm.P256: (device(P256_KEY), signed(draft(algorithm=Algorithm.P256), P256_KEY)),
}


def flip(data: bytes, position: int, mask: int) -> bytes:
    return data[:position] + bytes([data[position] ^ mask]) + data[position + 1 :]


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_every_single_byte_change_breaks_verification(algorithm: Algorithm) -> None:
    key, report = SIGNED_EXAMPLES[algorithm]
    message = canonical_bytes(report)
    assert signature_valid(key, message, report.signature)
    for position in range(len(message)):
        assert not signature_valid(key, flip(message, position, 0x01), report.signature), position
    for position in range(len(report.signature)):
        assert not signature_valid(key, message, flip(report.signature, position, 0x80)), position


@given(st.sampled_from(Algorithm), st.integers(0, 10_000), st.integers(1, 255), st.booleans())
def test_any_single_byte_change_breaks_verification(
    algorithm: Algorithm, position: int, mask: int, in_signature: bool
) -> None:
    key, report = SIGNED_EXAMPLES[algorithm]
    message, signature = canonical_bytes(report), report.signature
    if in_signature:
        signature = flip(signature, position % len(signature), mask)
    else:
        message = flip(message, position % len(message), mask)
    assert not signature_valid(key, message, signature)
