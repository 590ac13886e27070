"""Signed trip reports: the wire format, canonical bytes and verification in order (issue 3, DESIGN §6).

``docs/wire-format.md`` is the normative specification; this module, that document and the vectors in
``tests/ledger/vectors/trip_reports.json`` must agree (the tests enforce it).

Rules:

* A report is a trip *summary* signed by the car's device key: times, odometer readings, energy, drive
  mode, app check-in ids. It never carries a position or a trace.
* Every number is a non-negative integer that fits in 64 bits (unix seconds, metres, Wh); nothing is a
  float. Identifiers are short ASCII strings; check-in ids are listed in strictly ascending byte order,
  so a report has exactly one encoding.
* The device signs ``canonical_bytes(report)``: a domain-separation prefix, fixed-width big-endian
  integers and length-prefixed strings. Ed25519 signs those bytes directly; ECDSA P-256 signs their
  SHA-256, and its signature travels as 64 raw bytes ``r || s``.
* ``payload_hash = SHA-256(canonical bytes)`` identifies a report. The signature is not part of it, so a
  re-signed report (ECDSA may be randomised) or a malleated signature is still the same report.
* ``verify`` runs the steps in this order: shape, known unrevoked device, signature, replay, freshness,
  plausibility, consent. The first failing step before plausibility decides. A plausibility failure
  makes the report HELD for review unless consent also fails: consent is a rejection, and a rejection
  outranks a hold because a held report is stored and the data of a car without consent must not be.
* Statuses: ACCEPTED (stored, earns), HELD (stored for an operator to release or deny, earns nothing
  until released), DUPLICATE (the very same report was recorded before: the call changes nothing),
  REJECTED (nothing is stored; the reason code says why).
* The module is pure: stored state comes through :class:`TelemetryContext`, and the clock is an explicit
  ``now`` (the ledger follows chain time in embedded mode). Checks against stored state are advisory
  under concurrency; the store must also hold unique constraints on ``(vehicle_id, seq)`` and on the
  payload hash, and re-run ``verify`` when an insert collides.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from enum import IntEnum, StrEnum
from functools import lru_cache
from typing import Final, Protocol, TypeAlias

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from ledger.errors import ValidationError

__all__ = [
    "DOMAIN",
    "ENERGY_CHECK_MIN_DISTANCE_M",
    "MAX_CHECKINS",
    "MAX_CLOCK_SKEW_S",
    "MAX_REPORT_AGE_S",
    "MAX_SPEED_KMH",
    "MAX_TRIP_DURATION_S",
    "MAX_WH_PER_KM",
    "MIN_WH_PER_KM",
    "P256_ORDER",
    "REASON_STATUS",
    "SIGNATURE_LEN",
    "UINT64_MAX",
    "VEHICLE_ID_PATTERN",
    "VEHICLE_ID_RE",
    "Algorithm",
    "DeviceKey",
    "DriveMode",
    "PrivateKey",
    "PublicKey",
    "Reason",
    "Status",
    "TelemetryContext",
    "TripReport",
    "TripSummary",
    "Verdict",
    "canonical_bytes",
    "load_public_key",
    "parse",
    "parse_report",
    "parse_signature",
    "payload_hash",
    "report_to_json",
    "short_string",
    "sign_message",
    "sign_report",
    "signature_valid",
    "trip_distance_m",
    "valid_mileage_m",
    "verify",
    "verify_report",
]

DOMAIN: Final = b"YUANSHI/TRIP/v1\x00"
UINT64_MAX: Final = 2**64 - 1
MAX_ID_LEN: Final = 64
MAX_CHECKINS: Final = 16
SIGNATURE_LEN: Final = 64
ED25519_KEY_LEN: Final = 32
P256_COMPRESSED_LEN: Final = 33
P256_UNCOMPRESSED_LEN: Final = 65
# Order of the P-256 group: r and s of a valid ECDSA signature lie in [1, n-1].
P256_ORDER: Final = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

MAX_REPORT_AGE_S: Final = 7 * 86_400
MAX_CLOCK_SKEW_S: Final = 300
# An ignition cycle does not last a day; a longer "trip" would smear old mileage into the 720-hour window.
MAX_TRIP_DURATION_S: Final = 86_400
MAX_SPEED_KMH: Final = 250
MIN_WH_PER_KM: Final = 50
MAX_WH_PER_KM: Final = 600
# Below 1 km the auxiliary load (climate, battery heating) dominates, so Wh/km says nothing about the trip.
ENERGY_CHECK_MIN_DISTANCE_M: Final = 1_000

# The one definition of a car id, used by the ledger, the API's schemas and its rate limiter.
VEHICLE_ID_PATTERN: Final = r"[A-Za-z0-9_-]{1,64}"
VEHICLE_ID_RE: Final = re.compile(VEHICLE_ID_PATTERN)
_CHECKIN_ID_RE: Final = re.compile(r"[\x21-\x7e]{1,64}")
_HEX_RE: Final = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
# domain, algorithm code, seq, started_at, ended_at, odometer_start_m, odometer_end_m, energy_wh, drive mode
_FIXED_PART: Final = struct.Struct(">16sB6QB")

PublicKey: TypeAlias = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
PrivateKey: TypeAlias = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey


class Algorithm(StrEnum):
    """The device signature schemes; the value is the JSON name, ``code`` the byte in the canonical form."""

    ED25519 = "ed25519"
    P256 = "p256"

    @property
    def code(self) -> int:
        return _ALGORITHM_CODES[self]


_ALGORITHM_CODES: Final = {Algorithm.ED25519: 1, Algorithm.P256: 2}


class DriveMode(IntEnum):
    """The car's dominant drive mode over the trip; the value is the byte in the canonical form.

    ``assisted`` means the car's driver-assistance (smart driving) feature drove most of the distance.
    """

    NORMAL = 1
    ECO = 2
    SPORT = 3
    ASSISTED = 4

    @property
    def wire_name(self) -> str:
        return self.name.lower()


class Status(StrEnum):
    ACCEPTED = "accepted"
    HELD = "held"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class Reason(StrEnum):
    """Machine-readable outcome of a verification; each reason implies one :class:`Status`."""

    OK = "ok"
    DUPLICATE = "duplicate"
    MALFORMED = "malformed"
    UNKNOWN_DEVICE = "unknown_device"
    DEVICE_REVOKED = "device_revoked"
    ALGORITHM_MISMATCH = "algorithm_mismatch"
    BAD_SIGNATURE = "bad_signature"
    REPLAYED_SEQUENCE = "replayed_sequence"
    STALE = "stale"
    FROM_FUTURE = "from_future"
    NON_POSITIVE_DURATION = "non_positive_duration"
    ODOMETER_DECREASING = "odometer_decreasing"
    TRIP_TOO_LONG = "trip_too_long"
    OUT_OF_ORDER = "out_of_order"
    ODOMETER_WENT_BACK = "odometer_went_back"
    OVERLAPS_PREVIOUS = "overlaps_previous_trip"
    TOO_FAST = "too_fast"
    ENERGY_TOO_LOW = "energy_too_low"
    ENERGY_TOO_HIGH = "energy_too_high"
    NO_CONSENT = "no_consent"

    @property
    def status(self) -> Status:
        return REASON_STATUS[self]


_HOLD_REASONS: Final = frozenset(
    {
        Reason.NON_POSITIVE_DURATION,
        Reason.ODOMETER_DECREASING,
        Reason.TRIP_TOO_LONG,
        Reason.OUT_OF_ORDER,
        Reason.ODOMETER_WENT_BACK,
        Reason.OVERLAPS_PREVIOUS,
        Reason.TOO_FAST,
        Reason.ENERGY_TOO_LOW,
        Reason.ENERGY_TOO_HIGH,
    }
)


def _status_of(reason: Reason) -> Status:
    if reason is Reason.OK:
        return Status.ACCEPTED
    if reason is Reason.DUPLICATE:
        return Status.DUPLICATE
    return Status.HELD if reason in _HOLD_REASONS else Status.REJECTED


REASON_STATUS: Final[Mapping[Reason, Status]] = {reason: _status_of(reason) for reason in Reason}


# --- field rules -------------------------------------------------------------------------------------


def _invalid(field: str, rule: str) -> ValidationError:
    return ValidationError(f"trip report field {field!r}: {rule}")


def _shown(value: object) -> str:
    # Error details echo the input; a hostile megabyte string must not be copied into logs whole.
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _check_uint64(field: str, value: object) -> None:
    # bool is an int subclass, and True must never pass for 1.
    if type(value) is not int:
        raise _invalid(field, f"must be an integer, got {type(value).__name__}")
    if not 0 <= value <= UINT64_MAX:
        raise _invalid(field, f"must be in 0..2**64-1, got {_shown(value)}")


def _check_ascii_id(field: str, value: object, pattern: re.Pattern[str], charset: str) -> None:
    if type(value) is not str:
        raise _invalid(field, f"must be a string, got {type(value).__name__}")
    if not pattern.fullmatch(value):
        raise _invalid(field, f"must be 1..{MAX_ID_LEN} characters of {charset}, got {_shown(value)}")


def _check_vehicle_id(value: object) -> None:
    _check_ascii_id("vehicle_id", value, VEHICLE_ID_RE, "[A-Za-z0-9_-]")


def _check_checkin_ids(value: object) -> None:
    if type(value) is not tuple:
        raise _invalid("checkin_ids", f"must be a tuple, got {type(value).__name__}")
    if len(value) > MAX_CHECKINS:
        raise _invalid("checkin_ids", f"at most {MAX_CHECKINS} ids, got {len(value)}")
    for item in value:
        _check_ascii_id("checkin_ids", item, _CHECKIN_ID_RE, "printable ASCII without space")
    _check_strictly_ascending(value)


def _check_strictly_ascending(ids: Sequence[str]) -> None:
    # Ids are ASCII, so str order is byte order; one order makes the encoding unique.
    for before, after in itertools.pairwise(ids):
        if before == after:
            raise _invalid("checkin_ids", f"must be unique, {_shown(before)} repeats")
        if before > after:
            detail = f"must be in ascending byte order, {_shown(before)} precedes {_shown(after)}"
            raise _invalid("checkin_ids", detail)


def _check_member(field: str, value: object, enum: type[Algorithm] | type[DriveMode]) -> None:
    if not isinstance(value, enum):
        raise _invalid(field, f"must be a {enum.__name__}, got {_shown(value)}")


def _check_signature(value: object) -> None:
    if type(value) is not bytes:
        raise _invalid("signature", f"must be bytes, got {type(value).__name__}")
    if len(value) not in (0, SIGNATURE_LEN):
        raise _invalid("signature", f"must be {SIGNATURE_LEN} bytes, got {len(value)}")


# --- the report --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TripReport:
    """One trip summary as a car's device signs it; constructing one enforces every shape rule.

    An empty ``signature`` marks an unsigned draft (see :func:`sign_report`); parsing never yields one.
    """

    vehicle_id: str
    seq: int
    started_at: int
    ended_at: int
    odometer_start_m: int
    odometer_end_m: int
    energy_wh: int
    drive_mode: DriveMode
    checkin_ids: tuple[str, ...] = ()
    algorithm: Algorithm
    signature: bytes = b""

    def __post_init__(self) -> None:
        _check_vehicle_id(self.vehicle_id)
        for name in _UINT64_FIELDS:
            _check_uint64(name, getattr(self, name))
        _check_member("drive_mode", self.drive_mode, DriveMode)
        _check_checkin_ids(self.checkin_ids)
        _check_member("algorithm", self.algorithm, Algorithm)
        _check_signature(self.signature)


_UINT64_FIELDS: Final = ("seq", "started_at", "ended_at", "odometer_start_m", "odometer_end_m", "energy_wh")
_JSON_FIELDS: Final = frozenset(field.name for field in fields(TripReport))
_OPTIONAL_JSON_FIELDS: Final = frozenset({"checkin_ids"})
# A report inside an upload envelope (ledger.uploads): the car, the algorithm and the signature are the
# envelope's.
_UPLOADED_JSON_FIELDS: Final = _JSON_FIELDS - {"vehicle_id", "algorithm", "signature"}


@dataclass(frozen=True, slots=True)
class TripSummary:
    """What plausibility needs of a car's latest accepted or held trip."""

    seq: int
    started_at: int
    ended_at: int
    odometer_end_m: int

    @classmethod
    def of(cls, report: TripReport) -> TripSummary:
        return cls(report.seq, report.started_at, report.ended_at, report.odometer_end_m)


def trip_distance_m(report: TripReport) -> int:
    """Metres the odometer advanced over the trip; a report whose odometer ran backwards covers none."""
    return max(0, report.odometer_end_m - report.odometer_start_m)


# --- canonical bytes and hash ------------------------------------------------------------------------


def short_string(value: str) -> bytes:
    """An ASCII string as the canonical forms carry it: one length byte, then the bytes."""
    encoded = value.encode("ascii")
    return bytes([len(encoded)]) + encoded


def canonical_bytes(report: TripReport) -> bytes:
    """The exact bytes a device signs (layout in ``docs/wire-format.md``); the signature is not included."""
    fixed = _FIXED_PART.pack(
        DOMAIN,
        report.algorithm.code,
        report.seq,
        report.started_at,
        report.ended_at,
        report.odometer_start_m,
        report.odometer_end_m,
        report.energy_wh,
        report.drive_mode.value,
    )
    checkins = b"".join(short_string(checkin) for checkin in report.checkin_ids)
    return fixed + short_string(report.vehicle_id) + bytes([len(report.checkin_ids)]) + checkins


def payload_hash(report: TripReport) -> bytes:
    """SHA-256 of the canonical bytes: the report's identity for replay and idempotency."""
    return hashlib.sha256(canonical_bytes(report)).digest()


# --- JSON form ---------------------------------------------------------------------------------------


def report_to_json(report: TripReport) -> dict[str, object]:
    """The JSON object the API accepts for ``report``; :func:`parse_report` inverts it."""
    return {
        "vehicle_id": report.vehicle_id,
        "seq": report.seq,
        "started_at": report.started_at,
        "ended_at": report.ended_at,
        "odometer_start_m": report.odometer_start_m,
        "odometer_end_m": report.odometer_end_m,
        "energy_wh": report.energy_wh,
        "drive_mode": report.drive_mode.wire_name,
        "checkin_ids": list(report.checkin_ids),
        "algorithm": report.algorithm.value,
        "signature": "0x" + report.signature.hex(),
    }


def _json_object(raw: object, expected: frozenset[str]) -> Mapping[str, object]:
    if not isinstance(raw, Mapping):
        raise ValidationError(f"trip report must be a JSON object, got {type(raw).__name__}")
    names = set(raw)
    unknown = sorted(_shown(name) for name in names - expected)
    if unknown:
        raise ValidationError(f"trip report has unknown fields: {', '.join(unknown[:8])}")
    missing = sorted(expected - _OPTIONAL_JSON_FIELDS - names)
    if missing:
        raise ValidationError(f"trip report is missing fields: {', '.join(missing)}")
    return raw


def _json_uint(obj: Mapping[str, object], field: str) -> int:
    value = obj[field]
    _check_uint64(field, value)
    assert isinstance(value, int)  # narrowed by the check above, for the type checker
    return value


def _json_string(obj: Mapping[str, object], field: str) -> str:
    value = obj[field]
    if type(value) is not str:
        raise _invalid(field, f"must be a string, got {type(value).__name__}")
    return value


def _json_choice(obj: Mapping[str, object], field: str, choices: Mapping[str, DriveMode | Algorithm]) -> str:
    value = _json_string(obj, field)
    if value not in choices:
        raise _invalid(field, f"must be one of {', '.join(choices)}, got {_shown(value)}")
    return value


_DRIVE_MODES: Final = {mode.wire_name: mode for mode in DriveMode}
_ALGORITHMS: Final = {algorithm.value: algorithm for algorithm in Algorithm}


def _json_checkin_ids(obj: Mapping[str, object]) -> tuple[str, ...]:
    value = obj.get("checkin_ids", [])
    if not isinstance(value, list):
        raise _invalid("checkin_ids", f"must be an array, got {type(value).__name__}")
    return tuple(value)  # element rules are the dataclass's


def parse_signature(value: object) -> bytes:
    """A signature's wire form (0x-prefixed hex of 64 bytes) decoded, or :class:`ValidationError`."""
    if type(value) is not str:
        raise _invalid("signature", f"must be a string, got {type(value).__name__}")
    if not _HEX_RE.fullmatch(value):
        raise _invalid("signature", "must be 0x-prefixed hex with an even number of digits")
    signature = bytes.fromhex(value[2:])
    if len(signature) != SIGNATURE_LEN:
        raise _invalid("signature", f"must be {SIGNATURE_LEN} bytes, got {len(signature)}")
    return signature


def parse_report(raw: object, *, upload: tuple[str, Algorithm] | None = None) -> TripReport:
    """Parse the API's JSON object into a report, or raise :class:`ValidationError` naming the broken rule.

    ``upload`` is the car and algorithm of the upload envelope the report came in; such a report carries
    neither, nor a signature of its own, and is parsed unsigned."""
    if upload is None:
        obj = _json_object(raw, _JSON_FIELDS)
        vehicle_id = _json_string(obj, "vehicle_id")
        algorithm = _ALGORITHMS[_json_choice(obj, "algorithm", _ALGORITHMS)]
        signature = parse_signature(obj["signature"])
    else:
        obj = _json_object(raw, _UPLOADED_JSON_FIELDS)
        (vehicle_id, algorithm), signature = upload, b""
    return TripReport(
        vehicle_id=vehicle_id,
        seq=_json_uint(obj, "seq"),
        started_at=_json_uint(obj, "started_at"),
        ended_at=_json_uint(obj, "ended_at"),
        odometer_start_m=_json_uint(obj, "odometer_start_m"),
        odometer_end_m=_json_uint(obj, "odometer_end_m"),
        energy_wh=_json_uint(obj, "energy_wh"),
        drive_mode=_DRIVE_MODES[_json_choice(obj, "drive_mode", _DRIVE_MODES)],
        checkin_ids=_json_checkin_ids(obj),
        algorithm=algorithm,
        signature=signature,
    )


# --- keys and signatures -----------------------------------------------------------------------------


@lru_cache(maxsize=65_536)
def _load_public_key_cached(algorithm: Algorithm, raw: bytes) -> PublicKey:
    if algorithm is Algorithm.ED25519:
        if len(raw) != ED25519_KEY_LEN:
            raise ValidationError(f"an Ed25519 public key is {ED25519_KEY_LEN} raw bytes, got {len(raw)}")
        return ed25519.Ed25519PublicKey.from_public_bytes(raw)
    return _load_p256(raw)


def _load_p256(raw: bytes) -> ec.EllipticCurvePublicKey:
    # from_encoded_point would also take the hybrid forms 0x06/0x07, which the wire format does not allow.
    sec1_forms = {P256_UNCOMPRESSED_LEN: (4,), P256_COMPRESSED_LEN: (2, 3)}
    if len(raw) not in sec1_forms or raw[0] not in sec1_forms[len(raw)]:
        raise ValidationError("a P-256 public key is SEC1: 0x04||X||Y (65 bytes) or 0x02/0x03||X (33 bytes)")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError as exc:
        raise ValidationError("P-256 public key is not a point on the curve") from exc


def load_public_key(algorithm: Algorithm, raw: bytes) -> PublicKey:
    """Decode a device public key in its wire form, or raise :class:`ValidationError`."""
    # Strict like TripReport: a plain string would compare unequal by identity in the device step.
    if not isinstance(algorithm, Algorithm):
        raise ValidationError(f"device key algorithm must be an Algorithm, got {_shown(algorithm)}")
    return _load_public_key_cached(algorithm, bytes(raw))


@dataclass(frozen=True, slots=True)
class DeviceKey:
    """A car's registered device key; construction rejects a malformed key."""

    algorithm: Algorithm
    public_key: bytes
    revoked: bool = False

    def __post_init__(self) -> None:
        load_public_key(self.algorithm, self.public_key)


def _p256_der(signature: bytes) -> bytes | None:
    # OpenSSL refuses these too; the range is checked here so the rule does not depend on the backend.
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    if not (0 < r < P256_ORDER and 0 < s < P256_ORDER):
        return None
    return encode_dss_signature(r, s)


@lru_cache(maxsize=65_536)
def _ed25519_verifier(raw: bytes) -> VerifyKey:
    return VerifyKey(raw)


def signature_valid(key: DeviceKey, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` (64 bytes in the wire form) signs ``message`` under ``key``.

    Ed25519 goes through libsodium (PyNaCl), which verifies about twice as fast here as OpenSSL through
    ``cryptography`` and is the stricter of the two (it also refuses small-order keys and points)."""
    if len(signature) != SIGNATURE_LEN:
        return False
    public = load_public_key(key.algorithm, key.public_key)
    try:
        if isinstance(public, ed25519.Ed25519PublicKey):
            try:
                _ed25519_verifier(bytes(key.public_key)).verify(message, signature)
            except BadSignatureError:
                return False
            return True
        der = _p256_der(signature)
        if der is None:
            return False
        public.verify(der, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def _sign_p256(private_key: ec.EllipticCurvePrivateKey, message: bytes) -> bytes:
    if not isinstance(private_key.curve, ec.SECP256R1):
        raise ValidationError(f"ECDSA device keys must be on P-256, got {private_key.curve.name}")
    # RFC 6979 nonces: a device with a weak random source cannot leak its key through them.
    der = private_key.sign(message, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def sign_message(message: bytes, algorithm: Algorithm, private_key: PrivateKey, what: str) -> bytes:
    """The wire form of ``private_key``'s signature over ``message`` under ``algorithm`` (the rules of
    :func:`signature_valid`); ``what`` names the signed thing in the error for a key of another scheme."""
    if isinstance(private_key, ed25519.Ed25519PrivateKey) and algorithm is Algorithm.ED25519:
        return private_key.sign(message)
    if isinstance(private_key, ec.EllipticCurvePrivateKey) and algorithm is Algorithm.P256:
        return _sign_p256(private_key, message)
    raise ValidationError(f"a {type(private_key).__name__} cannot sign a {algorithm} {what}")


def sign_report(report: TripReport, private_key: PrivateKey) -> TripReport:
    """``report`` signed with a device key of its ``algorithm`` (for device simulators and tests)."""
    signature = sign_message(canonical_bytes(report), report.algorithm, private_key, "report")
    return replace(report, signature=signature)


# --- verification ------------------------------------------------------------------------------------


class TelemetryContext(Protocol):
    """The stored state verification reads; the store implements it.

    ``last_trip`` is the car's latest recorded trip that counts as history: accepted, held, or released,
    never denied. ``seen_sequence`` and ``seen_payload`` cover every report ever recorded (accepted or
    held), whatever its review outcome, so a denied report sent again is a duplicate, not a new trip.
    """

    def device_key(self, vehicle_id: str) -> DeviceKey | None: ...

    def seen_sequence(self, vehicle_id: str, seq: int) -> bool: ...

    def seen_payload(self, payload_hash: bytes) -> bool: ...

    def last_trip(self, vehicle_id: str) -> TripSummary | None: ...

    def consent_active(self, vehicle_id: str, at: int) -> bool: ...


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of verifying one report: status, reason code, a human-readable detail.

    ``report`` and ``payload_hash`` are None only when the report could not be parsed. The store records
    the report (its sequence and hash become seen) only when ``recorded`` is true.
    """

    status: Status
    reason: Reason
    detail: str
    report: TripReport | None = None
    payload_hash: bytes | None = None

    def __post_init__(self) -> None:
        if self.status is not self.reason.status:
            raise ValueError(f"reason {self.reason} implies status {self.reason.status}, not {self.status}")

    @property
    def recorded(self) -> bool:
        return self.status in (Status.ACCEPTED, Status.HELD)


def valid_mileage_m(verdict: Verdict) -> int:
    """Metres that count toward the car's weight: the trip's distance if ACCEPTED, else 0.

    A duplicate earns nothing because its original already counts; a held report counts once released.
    """
    if verdict.status is not Status.ACCEPTED or verdict.report is None:
        return 0
    return trip_distance_m(verdict.report)


@dataclass(frozen=True, slots=True)
class _Finding:
    reason: Reason
    detail: str


_ACCEPTED: Final = _Finding(Reason.OK, "report accepted")


def _device_step(report: TripReport, ctx: TelemetryContext) -> DeviceKey | _Finding:
    key = ctx.device_key(report.vehicle_id)
    if key is None:
        return _Finding(Reason.UNKNOWN_DEVICE, f"no device key is registered for {report.vehicle_id}")
    if key.revoked:
        return _Finding(Reason.DEVICE_REVOKED, f"the device key of {report.vehicle_id} is revoked")
    if key.algorithm is not report.algorithm:
        detail = f"report is signed with {report.algorithm}, the registered key is {key.algorithm}"
        return _Finding(Reason.ALGORITHM_MISMATCH, detail)
    return key


def _signature_step(report: TripReport, key: DeviceKey, message: bytes) -> _Finding | None:
    if signature_valid(key, message, report.signature):
        return None
    return _Finding(Reason.BAD_SIGNATURE, f"signature does not verify under the key of {report.vehicle_id}")


def _replay_step(report: TripReport, digest: bytes, ctx: TelemetryContext) -> _Finding | None:
    # Payload first: the same report again is a harmless retry, the same seq with other content is not.
    if ctx.seen_payload(digest):
        return _Finding(Reason.DUPLICATE, "this report was recorded before; nothing changes")
    if ctx.seen_sequence(report.vehicle_id, report.seq):
        detail = f"sequence {report.seq} of {report.vehicle_id} was already used by a different report"
        return _Finding(Reason.REPLAYED_SEQUENCE, detail)
    return None


def _freshness_step(report: TripReport, now: int) -> _Finding | None:
    if report.ended_at > now + MAX_CLOCK_SKEW_S:
        detail = f"trip ends at {report.ended_at}, more than {MAX_CLOCK_SKEW_S} s after now ({now})"
        return _Finding(Reason.FROM_FUTURE, detail)
    if now - report.ended_at > MAX_REPORT_AGE_S:
        detail = f"trip ended at {report.ended_at}, more than {MAX_REPORT_AGE_S} s before now ({now})"
        return _Finding(Reason.STALE, detail)
    return None


def _intrinsic_step(report: TripReport) -> _Finding | None:
    if report.ended_at <= report.started_at:
        detail = f"trip ends at {report.ended_at}, not after it starts at {report.started_at}"
        return _Finding(Reason.NON_POSITIVE_DURATION, detail)
    if report.odometer_end_m < report.odometer_start_m:
        detail = f"odometer runs from {report.odometer_start_m} m back to {report.odometer_end_m} m"
        return _Finding(Reason.ODOMETER_DECREASING, detail)
    if report.ended_at - report.started_at > MAX_TRIP_DURATION_S:
        detail = f"trip lasts {report.ended_at - report.started_at} s, over {MAX_TRIP_DURATION_S} s"
        return _Finding(Reason.TRIP_TOO_LONG, detail)
    return None


def _history_step(report: TripReport, last: TripSummary | None) -> _Finding | None:
    if last is None:
        return None
    if report.seq < last.seq:
        detail = f"sequence {report.seq} arrives after the recorded sequence {last.seq}"
        return _Finding(Reason.OUT_OF_ORDER, detail)
    if report.odometer_start_m < last.odometer_end_m:
        start, last_end = report.odometer_start_m, last.odometer_end_m
        detail = f"odometer starts at {start} m, below the {last_end} m where the last trip ended"
        return _Finding(Reason.ODOMETER_WENT_BACK, detail)
    if report.started_at < last.ended_at:
        detail = f"trip starts at {report.started_at}, before the last trip ended at {last.ended_at}"
        return _Finding(Reason.OVERLAPS_PREVIOUS, detail)
    return None


def _physics_step(report: TripReport) -> _Finding | None:
    distance = trip_distance_m(report)
    duration = report.ended_at - report.started_at
    # Integer forms of km/h <= bound and MIN <= Wh/km <= MAX, so no rounding decides a verdict.
    if distance * 3_600 > MAX_SPEED_KMH * 1_000 * duration:
        return _Finding(Reason.TOO_FAST, f"{distance} m in {duration} s exceeds {MAX_SPEED_KMH} km/h")
    if distance < ENERGY_CHECK_MIN_DISTANCE_M:
        return None
    if report.energy_wh * 1_000 < MIN_WH_PER_KM * distance:
        detail = f"{report.energy_wh} Wh over {distance} m is below {MIN_WH_PER_KM} Wh/km"
        return _Finding(Reason.ENERGY_TOO_LOW, detail)
    if report.energy_wh * 1_000 > MAX_WH_PER_KM * distance:
        detail = f"{report.energy_wh} Wh over {distance} m is above {MAX_WH_PER_KM} Wh/km"
        return _Finding(Reason.ENERGY_TOO_HIGH, detail)
    return None


def _plausibility_step(report: TripReport, last: TripSummary | None) -> _Finding | None:
    return _intrinsic_step(report) or _history_step(report, last) or _physics_step(report)


def _consent_step(report: TripReport, ctx: TelemetryContext) -> _Finding | None:
    if ctx.consent_active(report.vehicle_id, report.ended_at):
        return None
    detail = f"no active data-rights consent for {report.vehicle_id} at {report.ended_at}; trip not stored"
    return _Finding(Reason.NO_CONSENT, detail)


def _verdict(finding: _Finding, report: TripReport | None = None, digest: bytes | None = None) -> Verdict:
    return Verdict(finding.reason.status, finding.reason, finding.detail, report, digest)


def verify_report(
    report: TripReport,
    ctx: TelemetryContext,
    now: int,
    *,
    encoded: tuple[bytes, bytes] | None = None,
    upload_signed: bool | None = None,
) -> Verdict:
    """Run every step after shape on a parsed report; see the module docstring for the order.

    ``encoded`` is ``(canonical_bytes(report), its SHA-256)`` when the caller has already computed them.
    ``upload_signed`` is set for a report that came in an upload envelope (:mod:`ledger.uploads`) and so
    has no signature of its own: whether the envelope's signature, which covers this report's payload
    hash, verified under the car's registered key. It stands in for the signature step, in its place."""
    if encoded is None:
        message = canonical_bytes(report)
        encoded = (message, hashlib.sha256(message).digest())
    message, digest = encoded
    if upload_signed is None and len(report.signature) != SIGNATURE_LEN:
        return _verdict(_Finding(Reason.MALFORMED, "trip report is unsigned"), report, digest)
    device = _device_step(report, ctx)
    if isinstance(device, _Finding):
        return _verdict(device, report, digest)
    if upload_signed is None:
        forged = _signature_step(report, device, message)
    else:
        detail = f"the upload's signature does not verify under the key of {report.vehicle_id}"
        forged = None if upload_signed else _Finding(Reason.BAD_SIGNATURE, detail)
    rejection = forged or _replay_step(report, digest, ctx) or _freshness_step(report, now)
    if rejection is not None:
        return _verdict(rejection, report, digest)
    hold = _plausibility_step(report, ctx.last_trip(report.vehicle_id))
    # Consent runs last but outranks a hold: a held report is stored, and without consent nothing may be.
    refusal = _consent_step(report, ctx)
    return _verdict(refusal or hold or _ACCEPTED, report, digest)


def parse(raw: object) -> TripReport | Verdict:
    """The shape step: the parsed report, or the MALFORMED verdict naming the broken rule."""
    try:
        return parse_report(raw)
    except ValidationError as exc:
        return _verdict(_Finding(Reason.MALFORMED, str(exc)))


def verify(raw: object, ctx: TelemetryContext, now: int) -> Verdict:
    """Verify a report as the API receives it (a decoded JSON object), starting with its shape."""
    parsed = parse(raw)
    return parsed if isinstance(parsed, Verdict) else verify_report(parsed, ctx, now)
