"""Generate ``trip_reports.json``, the trip-report test vectors of ``docs/wire-format.md``.

Run once from the repository root, ``.venv/bin/python -m tests.ledger.vectors.make_trip_vectors``; with
``--markdown`` it prints the worked example's annotated bytes for the document instead.

Rules: keys come from fixed seeds and ECDSA uses RFC 6979 nonces, so a run reproduces the file byte for
byte; the file is checked in and the tests compare the code against it, so regenerating it is a
deliberate change of the wire format, never a way to make a failing test pass.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from ledger.telemetry import (
    P256_ORDER,
    Algorithm,
    DriveMode,
    TripReport,
    canonical_bytes,
    payload_hash,
    report_to_json,
    sign_report,
)

OUT: Final = Path(__file__).with_name("trip_reports.json")
ED25519_SEED: Final = bytes(range(0x01, 0x21))
P256_SCALAR: Final = bytes(range(0x21, 0x41))
ED25519_ORDER: Final = 2**252 + 27742317777372353535851937790883648493
UINT64_MAX: Final = 2**64 - 1

ED25519_KEY: Final = ed25519.Ed25519PrivateKey.from_private_bytes(ED25519_SEED)
P256_KEY: Final = ec.derive_private_key(int.from_bytes(P256_SCALAR, "big"), ec.SECP256R1())

WORKED_EXAMPLE: Final = TripReport(
    vehicle_id="YS-DEMO-0001",
    seq=42,
    started_at=1_767_225_600,  # 2026-01-01T00:00:00Z
    ended_at=1_767_227_400,
    odometer_start_m=12_345_678,
    odometer_end_m=12_369_134,
    energy_wh=3_518,
    drive_mode=DriveMode.ECO,
    checkin_ids=("chk-20260101-0001", "chk-20260101-0002"),
    algorithm=Algorithm.ED25519,
)
MINIMAL: Final = TripReport(
    vehicle_id="A",
    seq=0,
    started_at=0,
    ended_at=0,
    odometer_start_m=0,
    odometer_end_m=0,
    energy_wh=0,
    drive_mode=DriveMode.NORMAL,
    algorithm=Algorithm.ED25519,
)
MAXIMAL: Final = TripReport(
    vehicle_id="Z" * 32 + "z" * 30 + "_-",
    seq=UINT64_MAX,
    started_at=UINT64_MAX,
    ended_at=UINT64_MAX,
    odometer_start_m=UINT64_MAX,
    odometer_end_m=UINT64_MAX,
    energy_wh=UINT64_MAX,
    drive_mode=DriveMode.ASSISTED,
    checkin_ids=tuple(f"{i:02d}" + "~" * 62 for i in range(16)),
    algorithm=Algorithm.ED25519,
)
PUNCTUATION: Final = TripReport(
    vehicle_id="car_7-x",
    seq=1,
    started_at=1_767_300_000,
    ended_at=1_767_300_900,
    odometer_start_m=100,
    odometer_end_m=9_100,
    energy_wh=1_600,
    drive_mode=DriveMode.SPORT,
    checkin_ids=("!", "A:b/c", "z", "~"),
    algorithm=Algorithm.ED25519,
)
REPORTS: Final = {
    "worked_example": WORKED_EXAMPLE,
    "minimal": MINIMAL,
    "maximal": MAXIMAL,
    "punctuation": PUNCTUATION,
}


def _sign(report: TripReport, algorithm: Algorithm) -> TripReport:
    key = ED25519_KEY if algorithm is Algorithm.ED25519 else P256_KEY
    return sign_report(replace(report, algorithm=algorithm), key)


def _vector(name: str, report: TripReport) -> dict[str, object]:
    return {
        "name": f"{name}/{report.algorithm}",
        "report": report_to_json(report),
        "canonical_hex": canonical_bytes(report).hex(),
        "payload_hash_hex": payload_hash(report).hex(),
    }


def _public_hex(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey, form: str) -> str:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return raw.hex()
    point = {
        "uncompressed": serialization.PublicFormat.UncompressedPoint,
        "compressed": serialization.PublicFormat.CompressedPoint,
    }[form]
    return key.public_key().public_bytes(serialization.Encoding.X962, point).hex()


def _rs(signature: bytes) -> tuple[int, int]:
    return int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")


def _raw(r: int, s: int) -> str:
    return (r.to_bytes(32, "big") + s.to_bytes(32, "big")).hex()


def _signature_cases() -> list[dict[str, object]]:
    """Signatures over the worked example that a verifier must accept or refuse, beside the signed ones."""
    ed_sig = _sign(WORKED_EXAMPLE, Algorithm.ED25519).signature
    p256_report = _sign(WORKED_EXAMPLE, Algorithm.P256)
    r, s = _rs(p256_report.signature)
    big_s = int.from_bytes(ed_sig[32:], "little") + ED25519_ORDER
    flipped = bytes([ed_sig[0] ^ 0x01]) + ed_sig[1:]
    cases = [
        ("ed25519", "non-canonical S (S + L)", (ed_sig[:32] + big_s.to_bytes(32, "little")).hex(), False),
        ("ed25519", "first byte of R flipped", flipped.hex(), False),
        (
            "p256",
            "malleated (r, n - s): not RFC 6979, still valid",
            _raw(r, P256_ORDER - s),
            True,
        ),
        ("p256", "r = 0", _raw(0, s), False),
        ("p256", "s = n", _raw(r, P256_ORDER), False),
        ("p256", "r = n", _raw(P256_ORDER, s), False),
        ("p256", "s = 0", _raw(r, 0), False),
    ]
    return [
        {"key": key, "case": case, "message_of": f"worked_example/{key}", "signature_hex": sig, "valid": ok}
        for key, case, sig, ok in cases
    ]


def build() -> dict[str, object]:
    vectors = [
        _vector(name, _sign(report, algorithm)) for name, report in REPORTS.items() for algorithm in Algorithm
    ]
    return {
        "format": "YUANSHI/TRIP/v1",
        "spec": "docs/wire-format.md",
        "payload_hash": "sha256(canonical bytes)",
        "keys": {
            "ed25519": {"seed_hex": ED25519_SEED.hex(), "public_key_hex": _public_hex(ED25519_KEY, "raw")},
            "p256": {
                "private_scalar_hex": P256_SCALAR.hex(),
                "public_key_uncompressed_hex": _public_hex(P256_KEY, "uncompressed"),
                "public_key_compressed_hex": _public_hex(P256_KEY, "compressed"),
            },
        },
        "vectors": vectors,
        "signature_cases": _signature_cases(),
    }


def _annotated(report: TripReport) -> str:
    data = canonical_bytes(report)
    vid_end = 67 + len(report.vehicle_id)
    parts = [
        (0, 16, "domain 'YUANSHI/TRIP/v1\\0'"),
        (16, 17, "algorithm"),
        (17, 25, "seq"),
        (25, 33, "started_at"),
        (33, 41, "ended_at"),
        (41, 49, "odometer_start_m"),
        (49, 57, "odometer_end_m"),
        (57, 65, "energy_wh"),
        (65, 66, "drive_mode"),
        (66, 67, "vehicle_id length"),
        (67, vid_end, "vehicle_id"),
        (vid_end, vid_end + 1, "checkin count"),
    ]
    offset = vid_end + 1
    for checkin in report.checkin_ids:
        parts += [(offset, offset + 1, "checkin length"), (offset + 1, offset + 1 + len(checkin), checkin)]
        offset += 1 + len(checkin)
    lines = [f"{start:3d}  {data[start:end].hex():<34}  {label}" for start, end, label in parts]
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if "--markdown" in argv:
        print(_annotated(_sign(WORKED_EXAMPLE, Algorithm.ED25519)))
        print(_annotated(_sign(WORKED_EXAMPLE, Algorithm.P256)).splitlines()[1])
        return
    OUT.write_text(json.dumps(build(), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main(sys.argv[1:])
