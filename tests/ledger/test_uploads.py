"""Upload envelopes (issue 4): the signed bytes field by field, the upload hash, signing and verification
under Ed25519 and P-256, every way a signature must fail, the JSON form and each parse rule, and the
worked example of ``docs/wire-format.md`` §7.

Keys, drafts and the in-memory store double come from ``test_telemetry``.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from dataclasses import replace
from typing import Any, Final

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given
from hypothesis import strategies as st

from ledger import telemetry
from ledger.errors import ValidationError
from ledger.telemetry import Algorithm, DeviceKey, PrivateKey, Reason, Status, TripReport
from ledger.uploads import (
    MAX_UPLOAD_REPORTS,
    UPLOAD_DOMAIN,
    Upload,
    parse_upload,
    sign_upload,
    signature_valid,
    upload_bytes,
    upload_hash,
    upload_to_json,
)
from tests.ledger.test_telemetry import (
    ED_KEY,
    NOW,
    OTHER_ED_KEY,
    P256_KEY,
    VEHICLE,
    WIRE_FORMAT_DOC,
    FakeContext,
    ascii_ids,
    device,
    draft,
    raw_public,
    reports,
)

KEYS: Final[dict[Algorithm, PrivateKey]] = {Algorithm.ED25519: ED_KEY, Algorithm.P256: P256_KEY}
OTHER_P256_KEY: Final = ec.derive_private_key(0xC0FFEE, ec.SECP256R1())
OTHER_KEYS: Final[dict[Algorithm, PrivateKey]] = {
    Algorithm.ED25519: OTHER_ED_KEY,
    Algorithm.P256: OTHER_P256_KEY,
}


def drafts(
    count: int = 3, algorithm: Algorithm = Algorithm.ED25519, vehicle_id: str = VEHICLE
) -> list[TripReport]:
    """``count`` distinct plausible unsigned reports of one car, in sequence order."""
    return [
        draft(
            seq=7 + i,
            started_at=NOW - 3_600 * (count - i) - 1_800,
            ended_at=NOW - 3_600 * (count - i),
            odometer_start_m=10_000_000 + 30_000 * i,
            odometer_end_m=10_030_000 + 30_000 * i,
            algorithm=algorithm,
            vehicle_id=vehicle_id,
        )
        for i in range(count)
    ]


def envelope(
    items: list[TripReport] | None = None,
    algorithm: Algorithm = Algorithm.ED25519,
    key: PrivateKey | None = None,
) -> Upload:
    """A signed upload of ``items`` (three drafts by default) under ``key`` (the car's by default)."""
    items = drafts(algorithm=algorithm) if items is None else items
    first = items[0]
    upload = Upload(vehicle_id=first.vehicle_id, algorithm=first.algorithm, reports=tuple(items))
    return sign_upload(upload, KEYS[first.algorithm] if key is None else key)


def digests(upload: Upload) -> list[bytes]:
    return [telemetry.payload_hash(report) for report in upload.reports]


def valid(upload: Upload, key: DeviceKey | None, hashes_: list[bytes] | None = None) -> bool:
    return signature_valid(upload, key, digests(upload) if hashes_ is None else hashes_)


# --- the signed bytes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("algorithm", "code"), [(Algorithm.ED25519, 1), (Algorithm.P256, 2)])
def test_upload_bytes_field_by_field(algorithm: Algorithm, code: int) -> None:
    items = drafts(3, algorithm, vehicle_id="YS-UP_07")
    hashes_ = [hashlib.sha256(telemetry.canonical_bytes(item)).digest() for item in items]
    data = upload_bytes("YS-UP_07", algorithm, hashes_)
    # An independent construction of docs' layout.
    expected = (
        b"YUANSHI/UPLD/v1\x00"
        + struct.pack(">B", code)
        + struct.pack(">B", 8)
        + b"YS-UP_07"
        + struct.pack(">H", 3)
        + hashes_[0]
        + hashes_[1]
        + hashes_[2]
    )
    assert data == expected
    # Field by field, at their offsets.
    assert UPLOAD_DOMAIN == b"YUANSHI/UPLD/v1\x00"
    assert len(UPLOAD_DOMAIN) == 16
    assert data[0:16] == UPLOAD_DOMAIN
    assert data[16] == code
    assert data[17] == 8
    assert data[18:26] == b"YS-UP_07"
    assert struct.unpack(">H", data[26:28]) == (3,)
    assert [data[28 + 32 * i : 60 + 32 * i] for i in range(3)] == hashes_
    assert len(data) == 28 + 3 * 32
    # Each listed hash is the payload hash the report has when it is signed alone.
    signed_alone = [telemetry.sign_report(item, KEYS[algorithm]) for item in items]
    assert hashes_ == [telemetry.payload_hash(report) for report in signed_alone]
    assert hashes_ == digests(envelope(items))


def test_the_count_is_a_big_endian_uint16_and_the_hashes_keep_their_order() -> None:
    hashes_ = [hashlib.sha256(i.to_bytes(2, "big")).digest() for i in range(300)]  # 300 = 0x012c
    data = upload_bytes("c", Algorithm.ED25519, hashes_)
    assert data[19:21] == b"\x01\x2c"
    assert data[21:] == b"".join(hashes_)
    assert upload_bytes("c", Algorithm.ED25519, hashes_[::-1]) != data
    swapped = [hashes_[1], hashes_[0], *hashes_[2:]]
    assert upload_hash("c", Algorithm.ED25519, swapped) != upload_hash("c", Algorithm.ED25519, hashes_)
    # A longest car id: its length byte is 64.
    longest = upload_bytes("v" * 64, Algorithm.P256, hashes_[:1])
    assert (longest[16], longest[17], longest[18:82], longest[82:84]) == (2, 64, b"v" * 64, b"\x00\x01")


def test_the_upload_domain_differs_from_the_report_domain() -> None:
    domains: list[bytes] = [UPLOAD_DOMAIN, telemetry.DOMAIN]
    assert domains[0] != domains[1]
    assert domains[0][:8] == domains[1][:8] == b"YUANSHI/"


def test_upload_hash_is_the_sha256_of_the_bytes_and_ignores_the_signature() -> None:
    deterministic = envelope(algorithm=Algorithm.P256)
    # Another valid signature over the same upload: a randomised ECDSA one.
    message = upload_bytes(deterministic.vehicle_id, deterministic.algorithm, digests(deterministic))
    r, s = decode_dss_signature(P256_KEY.sign(message, ec.ECDSA(hashes.SHA256())))
    randomised = replace(deterministic, signature=r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    assert randomised.signature != deterministic.signature
    assert valid(randomised, device(P256_KEY))
    forged = replace(deterministic, signature=b"\x01" * 64)
    found = {
        upload_hash(upload.vehicle_id, upload.algorithm, digests(upload))
        for upload in (deterministic, randomised, forged, replace(deterministic, signature=b""))
    }
    assert found == {hashlib.sha256(message).digest()}


def test_upload_hash_commits_to_the_car_the_algorithm_and_each_hash() -> None:
    hashes_ = [b"\x00" * 32, b"\x11" * 32]
    base = upload_hash(VEHICLE, Algorithm.ED25519, hashes_)
    assert base != upload_hash(VEHICLE + "2", Algorithm.ED25519, hashes_)
    assert base != upload_hash(VEHICLE, Algorithm.P256, hashes_)
    assert base != upload_hash(VEHICLE, Algorithm.ED25519, hashes_[:1])
    assert base != upload_hash(VEHICLE, Algorithm.ED25519, [b"\x00" * 32, b"\x11" * 31 + b"\x10"])


# --- signing and verification ------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_sign_and_verify_round_trip(algorithm: Algorithm) -> None:
    upload = envelope(algorithm=algorithm)
    assert len(upload.signature) == telemetry.SIGNATURE_LEN
    assert valid(upload, device(KEYS[algorithm]))
    # The signature is the car's key over upload_bytes, nothing else.
    message = upload_bytes(upload.vehicle_id, algorithm, digests(upload))
    assert telemetry.signature_valid(device(KEYS[algorithm]), message, upload.signature)
    # Signing is deterministic for both schemes (RFC 6979 for P-256).
    assert sign_upload(replace(upload, signature=b""), KEYS[algorithm]) == upload


def test_a_malleated_p256_signature_verifies_as_documented() -> None:
    upload = envelope(algorithm=Algorithm.P256)
    r, s = upload.signature[:32], int.from_bytes(upload.signature[32:], "big")
    malleated = replace(upload, signature=r + (telemetry.P256_ORDER - s).to_bytes(32, "big"))
    assert malleated.signature != upload.signature
    assert valid(malleated, device(P256_KEY))
    assert not valid(
        replace(upload, signature=r + telemetry.P256_ORDER.to_bytes(32, "big")), device(P256_KEY)
    )


def test_a_p256_key_in_compressed_form_verifies_too() -> None:
    upload = envelope(algorithm=Algorithm.P256)
    assert valid(upload, DeviceKey(Algorithm.P256, raw_public(P256_KEY, compressed=True)))


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_the_signature_fails_for_every_kind_of_tampering_and_wrong_key(algorithm: Algorithm) -> None:
    upload = envelope(algorithm=algorithm)
    key = device(KEYS[algorithm])
    hashes_ = digests(upload)
    assert valid(upload, key, hashes_)
    # A tampered report: one field changed, so its hash in the list changes.
    tampered = replace(
        upload, reports=(upload.reports[0], replace(upload.reports[1], energy_wh=4_501), upload.reports[2])
    )
    assert not valid(tampered, key)
    assert not valid(upload, key, [hashes_[0], b"\x00" * 32, hashes_[2]])
    # Reports reordered, dropped or added.
    assert not valid(replace(upload, reports=upload.reports[::-1]), key)
    assert not valid(upload, key, [hashes_[1], hashes_[0], hashes_[2]])
    assert not valid(replace(upload, reports=upload.reports[:2]), key)
    assert not valid(replace(upload, reports=(*upload.reports, upload.reports[0])), key)
    # Another car's key, a revoked key, no key at all, a key of the other algorithm.
    assert not valid(upload, device(OTHER_KEYS[algorithm]))
    assert not valid(upload, device(KEYS[algorithm], revoked=True))
    assert not valid(upload, None)
    other_algorithm = Algorithm.P256 if algorithm is Algorithm.ED25519 else Algorithm.ED25519
    assert not valid(upload, device(KEYS[other_algorithm]))
    # A flipped bit in the signature; an empty signature.
    assert not valid(replace(upload, signature=bytes([upload.signature[0] ^ 1]) + upload.signature[1:]), key)
    assert not valid(replace(upload, signature=b""), key)


def test_an_upload_claiming_another_algorithm_never_verifies() -> None:
    # The car's key is Ed25519; an upload claiming P-256, signed by some P-256 key, is refused by algorithm.
    upload = envelope(algorithm=Algorithm.P256)
    assert not valid(upload, device(ED_KEY))
    # Even with the Ed25519 signature over the same hashes but the envelope claiming P-256.
    ed = envelope(algorithm=Algorithm.ED25519)
    claimed = Upload(
        vehicle_id=ed.vehicle_id,
        algorithm=Algorithm.P256,
        reports=tuple(replace(report, algorithm=Algorithm.P256) for report in ed.reports),
        signature=ed.signature,
    )
    assert not valid(claimed, device(ED_KEY))
    assert not valid(claimed, device(P256_KEY))
    # The car's Ed25519 key signing the very bytes of a P-256 upload: a valid signature, the wrong scheme.
    p256 = replace(envelope(algorithm=Algorithm.P256), signature=b"")
    message = upload_bytes(p256.vehicle_id, Algorithm.P256, digests(p256))
    cross = replace(p256, signature=ED_KEY.sign(message))
    assert telemetry.signature_valid(device(ED_KEY), message, cross.signature)
    assert not valid(cross, device(ED_KEY))


def test_a_report_signature_and_an_upload_signature_are_not_interchangeable() -> None:
    report = draft()
    alone = telemetry.sign_report(report, ED_KEY)
    key = device(ED_KEY)
    # A one-report upload carrying the report's own signature: another domain, so it does not verify.
    single = Upload(
        vehicle_id=VEHICLE, algorithm=Algorithm.ED25519, reports=(report,), signature=alone.signature
    )
    assert not valid(single, key)
    # Nor does the upload's signature verify as the report's.
    signed_upload = sign_upload(replace(single, signature=b""), ED_KEY)
    assert valid(signed_upload, key)
    assert not telemetry.signature_valid(key, telemetry.canonical_bytes(report), signed_upload.signature)


def test_signing_needs_a_key_of_the_uploads_algorithm() -> None:
    upload = replace(envelope(), signature=b"")
    with pytest.raises(ValidationError, match="cannot sign a ed25519 upload"):
        sign_upload(upload, P256_KEY)
    p256 = replace(envelope(algorithm=Algorithm.P256), signature=b"")
    with pytest.raises(ValidationError, match="cannot sign a p256 upload"):
        sign_upload(p256, ED_KEY)
    with pytest.raises(ValidationError, match="must be on P-256"):
        sign_upload(p256, ec.derive_private_key(7, ec.SECP384R1()))


# --- the dataclass -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"reports": ()}, "an upload holds 1..1000 reports, got 0"),
        ({"reports": (draft(),) * (MAX_UPLOAD_REPORTS + 1)}, "an upload holds 1..1000 reports, got 1001"),
        ({"reports": (draft(), draft(vehicle_id="YS-OTHER"))}, "upload report 1: must be an unsigned report"),
        ({"reports": (draft(algorithm=Algorithm.P256),)}, "upload report 0: must be an unsigned report"),
        (
            {"reports": (telemetry.sign_report(draft(), ED_KEY),)},
            "upload report 0: must be an unsigned report",
        ),
        ({"signature": b"\x01" * 63}, "upload signature must be 64 bytes"),
    ],
)
def test_constructing_an_upload_enforces_its_rules(changes: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {"vehicle_id": VEHICLE, "algorithm": Algorithm.ED25519, "reports": (draft(),)}
    with pytest.raises(ValidationError, match=re.escape(message)):
        Upload(**(fields | changes))


def test_an_upload_of_the_maximum_size_is_allowed() -> None:
    upload = Upload(vehicle_id=VEHICLE, algorithm=Algorithm.ED25519, reports=(draft(),) * MAX_UPLOAD_REPORTS)
    assert len(upload.reports) == MAX_UPLOAD_REPORTS


# --- verification of a report from an upload ---------------------------------------------------------------


def test_the_uploads_signature_takes_the_place_of_the_signature_step() -> None:
    report = draft()
    alone = telemetry.verify_report(telemetry.sign_report(report, ED_KEY), FakeContext(), NOW)
    assert (alone.status, alone.reason) == (Status.ACCEPTED, Reason.OK)
    inside = telemetry.verify_report(report, FakeContext(), NOW, upload_signed=True)
    assert (inside.status, inside.reason, inside.detail, inside.payload_hash) == (
        alone.status,
        alone.reason,
        alone.detail,
        alone.payload_hash,
    )
    refused = telemetry.verify_report(report, FakeContext(), NOW, upload_signed=False)
    assert (refused.status, refused.reason) == (Status.REJECTED, Reason.BAD_SIGNATURE)
    assert refused.detail.startswith("the upload's signature does not verify")
    assert refused.payload_hash == alone.payload_hash
    # The device step still comes first; an unsigned report outside an upload is malformed.
    unknown = telemetry.verify_report(draft(vehicle_id="YS-NONE"), FakeContext(), NOW, upload_signed=False)
    assert unknown.reason is Reason.UNKNOWN_DEVICE
    assert telemetry.verify_report(report, FakeContext(), NOW).reason is Reason.MALFORMED


# --- JSON --------------------------------------------------------------------------------------------------


def test_the_json_form_lists_reports_without_their_car_algorithm_or_signature() -> None:
    upload = envelope(algorithm=Algorithm.P256)
    obj = upload_to_json(upload)
    assert set(obj) == {"vehicle_id", "algorithm", "reports", "signature"}
    assert (obj["vehicle_id"], obj["algorithm"], obj["signature"]) == (
        VEHICLE,
        "p256",
        "0x" + upload.signature.hex(),
    )
    assert isinstance(obj["reports"], list)
    expected = [
        {
            k: v
            for k, v in telemetry.report_to_json(r).items()
            if k not in ("vehicle_id", "algorithm", "signature")
        }
        for r in upload.reports
    ]
    assert obj["reports"] == expected
    assert parse_upload(obj) == upload


@st.composite
def signed_uploads(draw: st.DrawFn) -> Upload:
    vehicle_id = draw(ascii_ids)
    algorithm = draw(st.sampled_from(Algorithm))
    items = draw(st.lists(reports(), min_size=1, max_size=4))
    return Upload(
        vehicle_id=vehicle_id,
        algorithm=algorithm,
        reports=tuple(replace(r, vehicle_id=vehicle_id, algorithm=algorithm, signature=b"") for r in items),
        signature=draw(st.binary(min_size=64, max_size=64)),
    )


@given(signed_uploads())
def test_json_round_trip(upload: Upload) -> None:
    assert parse_upload(upload_to_json(upload)) == upload
    assert parse_upload(json.loads(json.dumps(upload_to_json(upload)))) == upload


@given(signed_uploads())
def test_each_listed_hash_is_the_hash_of_the_report_signed_alone(upload: Upload) -> None:
    parsed = parse_upload(json.loads(json.dumps(upload_to_json(upload))))
    alone = [replace(r, signature=b"\x05" * 64) for r in parsed.reports]
    assert digests(parsed) == [telemetry.payload_hash(r) for r in alone]
    assert upload_bytes(parsed.vehicle_id, parsed.algorithm, digests(parsed))[-32 * len(alone) :] == b"".join(
        telemetry.payload_hash(r) for r in alone
    )


def good() -> dict[str, Any]:
    return upload_to_json(envelope())


def report_field(index: int, name: str, value: object) -> dict[str, Any]:
    obj = good()
    obj["reports"][index][name] = value
    return obj


def changed(**fields: object) -> dict[str, Any]:
    return good() | fields


def without(name: str) -> dict[str, Any]:
    obj = good()
    del obj[name]
    return obj


SIG: Final = "0x" + "ab" * 64
PARSE_CASES: Final[list[tuple[str, object, str]]] = [
    ("list", [good()], "upload must be a JSON object, got list"),
    ("string", "upload", "upload must be a JSON object, got str"),
    ("missing signature", without("signature"), "upload fields: missing ['signature'], unknown none"),
    ("missing reports", without("reports"), "upload fields: missing ['reports'], unknown none"),
    ("missing vehicle", without("vehicle_id"), "missing ['vehicle_id']"),
    ("missing algorithm", without("algorithm"), "missing ['algorithm']"),
    ("unknown field", changed(gps_trace=[]), "upload fields: missing none, unknown [\"'gps_trace'\"]"),
    ("empty vehicle id", changed(vehicle_id=""), "upload vehicle_id must match [A-Za-z0-9_-]{1,64}"),
    ("vehicle id space", changed(vehicle_id="YS 1"), "upload vehicle_id must match"),
    ("long vehicle id", changed(vehicle_id="v" * 65), "upload vehicle_id must match"),
    ("vehicle id number", changed(vehicle_id=7), "upload vehicle_id must match"),
    ("unknown algorithm", changed(algorithm="rsa"), "upload algorithm must be one of ed25519, p256"),
    ("algorithm case", changed(algorithm="Ed25519"), "upload algorithm must be one of ed25519, p256"),
    ("algorithm code", changed(algorithm=1), "upload algorithm must be one of"),
    ("no reports", changed(reports=[]), "upload reports must be an array of 1..1000 reports"),
    ("reports object", changed(reports={"0": {}}), "upload reports must be an array of 1..1000 reports"),
    ("too many reports", changed(reports=[{}] * 1001), "upload reports must be an array of 1..1000 reports"),
    (
        "report with its own signature",
        report_field(1, "signature", SIG),
        "upload report 1: trip report has unknown fields: 'signature'",
    ),
    (
        "report with a vehicle id",
        report_field(0, "vehicle_id", VEHICLE),
        "upload report 0: trip report has unknown fields: 'vehicle_id'",
    ),
    (
        "report with an algorithm",
        report_field(2, "algorithm", "ed25519"),
        "upload report 2: trip report has unknown fields: 'algorithm'",
    ),
    (
        "report field type",
        report_field(2, "seq", "8"),
        "upload report 2: trip report field 'seq': must be an integer",
    ),
    ("report not an object", changed(reports=["trip"]), "upload report 0: trip report must be a JSON object"),
    ("signature without 0x", changed(signature=SIG[2:]), "'signature': must be 0x-prefixed hex"),
    ("signature non-hex", changed(signature="0x" + "zz" * 64), "'signature': must be 0x-prefixed hex"),
    ("signature odd hex", changed(signature=SIG[:-1]), "'signature': must be 0x-prefixed hex"),
    ("short signature", changed(signature=SIG[:-2]), "'signature': must be 64 bytes, got 63"),
    ("empty signature", changed(signature="0x"), "'signature': must be 64 bytes, got 0"),
    ("signature number", changed(signature=0), "'signature': must be a string, got int"),
]


@pytest.mark.parametrize(("raw", "message"), [pytest.param(r, m, id=i) for i, r, m in PARSE_CASES])
def test_each_parse_rule_has_its_own_message(raw: object, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        parse_upload(raw)


def test_a_report_missing_a_field_is_named_by_its_position() -> None:
    obj = good()
    del obj["reports"][1]["energy_wh"]
    with pytest.raises(
        ValidationError, match=re.escape("upload report 1: trip report is missing fields: energy_wh")
    ):
        parse_upload(obj)


def test_checkins_may_be_omitted_and_uppercase_signature_hex_is_read() -> None:
    upload = envelope()
    obj = upload_to_json(upload)
    assert upload.reports[0].checkin_ids
    for report in obj["reports"]:  # type: ignore[attr-defined]
        del report["checkin_ids"]
    obj["signature"] = "0x" + upload.signature.hex().upper()
    parsed = parse_upload(obj)
    assert parsed.signature == upload.signature
    assert all(report.checkin_ids == () for report in parsed.reports)
    # Without its check-ins each report is another report, so the car's signature no longer covers it.
    assert not valid(parsed, device(ED_KEY))


# --- the worked example of docs/wire-format.md §7 ----------------------------------------------------------


def _section_7_blocks() -> list[str]:
    section = WIRE_FORMAT_DOC[
        WIRE_FORMAT_DOC.index("## 7. Upload envelopes") : WIRE_FORMAT_DOC.index("\n## 8. ")
    ]
    return [block for _, block in re.findall(r"```(\w*)\n(.*?)```", section, re.S)]


def _hex(block: str) -> bytes:
    return bytes.fromhex("".join(block.split()).removeprefix("0x"))


def _hashes(block: str) -> list[bytes]:
    lines = [line.split() for line in block.strip().splitlines()]
    assert [line[0] for line in lines] == ["h_0", "h_1"]
    return [bytes.fromhex(line[1]) for line in lines]


def test_the_documented_worked_example_is_what_the_code_computes() -> None:
    blocks = _section_7_blocks()
    assert len(blocks) == 11
    example = parse_upload(json.loads(blocks[0]))
    assert (example.vehicle_id, example.algorithm, len(example.reports)) == (
        "YS-DEMO-0001",
        Algorithm.ED25519,
        2,
    )
    # Ed25519: the payload hashes, report 1's canonical bytes, the upload bytes field by field and whole.
    assert digests(example) == _hashes(blocks[1])
    assert telemetry.canonical_bytes(example.reports[1]) == _hex(blocks[2])
    fields = [line.split()[1] for line in blocks[3].strip().splitlines()]
    message = upload_bytes(example.vehicle_id, example.algorithm, digests(example))
    assert message.hex() == "".join(fields)
    assert message == _hex(blocks[4])
    assert len(message) == 96
    assert upload_hash(example.vehicle_id, example.algorithm, digests(example)) == _hex(blocks[5])
    # The documented key is the vectors' key; Ed25519 is deterministic, so the signature is reproduced.
    assert example.signature == _hex(blocks[6])
    assert sign_upload(replace(example, signature=b""), ED_KEY).signature == example.signature
    assert valid(example, device(ED_KEY))
    # P-256: the same trips under the other algorithm.
    p256 = Upload(
        vehicle_id=example.vehicle_id,
        algorithm=Algorithm.P256,
        reports=tuple(replace(report, algorithm=Algorithm.P256) for report in example.reports),
        signature=_hex(blocks[10]),
    )
    assert digests(p256) == _hashes(blocks[7])
    assert upload_bytes(p256.vehicle_id, p256.algorithm, digests(p256)) == _hex(blocks[8])
    assert upload_hash(p256.vehicle_id, p256.algorithm, digests(p256)) == _hex(blocks[9])
    assert valid(p256, device(P256_KEY))
    assert sign_upload(replace(p256, signature=b""), P256_KEY).signature == p256.signature  # RFC 6979
