"""Upload envelopes: one signature over the payload hashes of a car's whole upload (issue 4).

A car may send its reports in an envelope instead of signing each one: it lists the reports, without
their own signatures, and signs ``upload_bytes`` once, which commit to the car, the algorithm and the
SHA-256 payload hash of every report in order. ``docs/wire-format.md`` §7 is the normative layout.

Rules:

* Every report stays attributable: its payload hash is the same as if it were signed alone, and the
  envelope's signature covers that hash, so the envelope (stored in ``uploads`` with the hash list) and
  the report's stored fields re-verify it later, exactly like a report's own signature would.
* Verification costs one signature per upload instead of one per report. The envelope's signature stands
  in for each report's signature step, in its place (after the device step, before replay); every other
  step runs per report as for a signed one, so a report in an envelope gets the verdict it would get alone.
* An upload is signed as a whole: a report that does not parse leaves nothing to check the signature
  against, so every report of that upload is MALFORMED (the detail names the broken report).
* ``upload_hash = SHA-256(upload_bytes)``: the signature is not part of it, as for a report.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final

from ledger import telemetry
from ledger.errors import ValidationError
from ledger.telemetry import Algorithm, DeviceKey, PrivateKey, TripReport

__all__ = [
    "MAX_UPLOAD_REPORTS",
    "UPLOAD_DOMAIN",
    "Upload",
    "parse_upload",
    "sign_upload",
    "signature_valid",
    "upload_bytes",
    "upload_hash",
    "upload_to_json",
]

UPLOAD_DOMAIN: Final = b"YUANSHI/UPLD/v1\x00"
MAX_UPLOAD_REPORTS: Final = 1_000
_HEADER: Final = struct.Struct(">16sB")
_FIELDS: Final = frozenset({"vehicle_id", "algorithm", "reports", "signature"})
_ALGORITHMS: Final = {algorithm.value: algorithm for algorithm in Algorithm}


@dataclass(frozen=True, slots=True, kw_only=True)
class Upload:
    """A car's reports under one signature; an empty ``signature`` marks an unsigned draft."""

    vehicle_id: str
    algorithm: Algorithm
    reports: tuple[TripReport, ...]
    signature: bytes = b""

    def __post_init__(self) -> None:
        if not 1 <= len(self.reports) <= MAX_UPLOAD_REPORTS:
            raise ValidationError(f"an upload holds 1..{MAX_UPLOAD_REPORTS} reports, got {len(self.reports)}")
        for index, report in enumerate(self.reports):
            if (report.vehicle_id, report.algorithm, report.signature) != (
                self.vehicle_id,
                self.algorithm,
                b"",
            ):
                raise ValidationError(
                    f"upload report {index}: must be an unsigned report of the upload's car"
                )
        if len(self.signature) not in (0, telemetry.SIGNATURE_LEN):
            raise ValidationError(f"upload signature must be {telemetry.SIGNATURE_LEN} bytes")


def upload_bytes(vehicle_id: str, algorithm: Algorithm, digests: Sequence[bytes]) -> bytes:
    """The exact bytes a car signs for an upload whose reports have the payload hashes ``digests``."""
    header = _HEADER.pack(UPLOAD_DOMAIN, algorithm.code) + telemetry.short_string(vehicle_id)
    return header + len(digests).to_bytes(2, "big") + b"".join(digests)


def _digests(upload: Upload) -> list[bytes]:
    return [telemetry.payload_hash(report) for report in upload.reports]


def upload_hash(vehicle_id: str, algorithm: Algorithm, digests: Sequence[bytes]) -> bytes:
    """SHA-256 of :func:`upload_bytes`: the upload's identity, its signature left out."""
    return hashlib.sha256(upload_bytes(vehicle_id, algorithm, digests)).digest()


def sign_upload(upload: Upload, private_key: PrivateKey) -> Upload:
    """``upload`` signed with a device key of its algorithm (for device simulators and tests)."""
    message = upload_bytes(upload.vehicle_id, upload.algorithm, _digests(upload))
    signature = telemetry.sign_message(message, upload.algorithm, private_key, "upload")
    return replace(upload, signature=signature)


def signature_valid(upload: Upload, key: DeviceKey | None, digests: Sequence[bytes]) -> bool:
    """Whether the upload's signature verifies under ``key``, the car's registered key, over ``digests``
    (its reports' payload hashes); False for a missing or revoked key or another algorithm."""
    if key is None or key.revoked or key.algorithm is not upload.algorithm:
        return False
    message = upload_bytes(upload.vehicle_id, upload.algorithm, digests)
    return telemetry.signature_valid(key, message, upload.signature)


def upload_to_json(upload: Upload) -> dict[str, object]:
    """The JSON object the API accepts for ``upload``; :func:`parse_upload` inverts it."""
    reports = []
    for report in upload.reports:
        body = telemetry.report_to_json(report)
        for field in ("vehicle_id", "algorithm", "signature"):
            del body[field]
        reports.append(body)
    return {
        "vehicle_id": upload.vehicle_id,
        "algorithm": upload.algorithm.value,
        "reports": reports,
        "signature": "0x" + upload.signature.hex(),
    }


def parse_upload(raw: object) -> Upload:
    """Parse the API's JSON object into a signed upload, or raise :class:`ValidationError` naming the rule."""
    if not isinstance(raw, Mapping):
        raise ValidationError(f"upload must be a JSON object, got {type(raw).__name__}")
    if set(raw) != _FIELDS:
        missing, unknown = sorted(_FIELDS - set(raw)), sorted(repr(name)[:40] for name in set(raw) - _FIELDS)
        raise ValidationError(f"upload fields: missing {missing or 'none'}, unknown {unknown[:8] or 'none'}")
    vehicle_id, algorithm, reports = raw["vehicle_id"], raw["algorithm"], raw["reports"]
    if type(vehicle_id) is not str or not telemetry.VEHICLE_ID_RE.fullmatch(vehicle_id):
        raise ValidationError(f"upload vehicle_id must match {telemetry.VEHICLE_ID_PATTERN}")
    if type(algorithm) is not str or algorithm not in _ALGORITHMS:
        raise ValidationError(f"upload algorithm must be one of {', '.join(_ALGORITHMS)}")
    if not isinstance(reports, list) or not 1 <= len(reports) <= MAX_UPLOAD_REPORTS:
        raise ValidationError(f"upload reports must be an array of 1..{MAX_UPLOAD_REPORTS} reports")
    parsed = []
    for index, report in enumerate(reports):
        try:
            parsed.append(telemetry.parse_report(report, upload=(vehicle_id, _ALGORITHMS[algorithm])))
        except ValidationError as exc:
            raise ValidationError(f"upload report {index}: {exc}") from None
    signature = telemetry.parse_signature(raw["signature"])
    return Upload(
        vehicle_id=vehicle_id, algorithm=_ALGORITHMS[algorithm], reports=tuple(parsed), signature=signature
    )
