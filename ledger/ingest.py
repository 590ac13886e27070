"""Trip-report ingest against the store: verification in order, persistence, holds and their review.

``ledger.telemetry`` decides each report's verdict; this module supplies the stored state it reads
(:class:`StoreTelemetryContext`) and records what the verdict says to record.

Rules:

* A batch holds at most ``MAX_BATCH`` reports (:class:`ValidationError` beyond). Reports are verified in
  order, so a later report sees the earlier ones of its batch (its sequence, payload hash and the car's
  last trip). One bad report never sinks its batch: every report gets a verdict, in the order given.
* ACCEPTED and HELD reports become ``Trip`` rows with their status, reason code and detail. REJECTED
  reports store nothing. DUPLICATE changes nothing, so resubmitting a batch is harmless.
* A batch is verified against a snapshot of the stored state it can ask about, read in a few set-based
  queries (:class:`BatchTelemetryContext`), and its rows are written in one multi-row insert: the cost per
  batch is a fixed number of statements, not a few per report. New reports are the rule, so the first
  pass does not read stored sequences and payload hashes but inserts with ON CONFLICT DO NOTHING; a
  skipped row (a replay, or a concurrent writer's row) voids that pass and the batch is verified again
  against a snapshot that includes them. If that insert still collides (a concurrent writer got in
  between), the batch starts over report by report, each in its own SAVEPOINT against the live store
  (:class:`StoreTelemetryContext`). Every path gives the verdicts that verifying and recording the
  reports one by one gives (property-tested). On PostgreSQL the snapshot and the inserts are prepared
  statements on the session's driver connection (:mod:`ledger.store.ingest_pg`); SQLite uses SQLAlchemy.
* Reports may also come in upload envelopes (:mod:`ledger.uploads`, :func:`submit_uploads`): one
  signature over a car's upload, checked once per upload, stands in for each report's signature step;
  every other rule above applies per report. A recorded trip keeps its own signature, or the hash of its
  envelope, and the envelope is stored (``uploads``) in the same transaction, so every stored trip can be
  verified again from the store (``ledger.trip_audit``).
* Consent is that of the car's owner at the trip's end, and it must have held without a break from
  then until now (superseding grants chain; a revocation breaks the chain, and a later grant does not
  mend it): the owner's trip details were forgotten at the break, and a late report must not bring
  them back.
* A car's history for plausibility (``last_trip``) is its recorded trip with the highest sequence that
  was not denied, so an old sequence sent late can't reset it and a denied trip is no precedent.
* Review: only a HELD trip can be reviewed, once (:class:`ConflictError` otherwise, even when two
  reviewers race). RELEASED counts like ACCEPTED from then on; DENIED never counts, yet its sequence
  and payload hash stay used, so the same report sent again is a duplicate.
* Valid metres: the summed odometer advance of ACCEPTED and RELEASED trips whose ``ended_at`` is in
  ``(window_start, window_end]``; a trip whose odometer ran backwards adds zero, never a negative.
* A car has an open hold at time ``t`` when one of its reports was held at or before ``t`` and not
  reviewed by ``t``; asking about a past ``t`` gives the answer ``t`` had, whatever happened since.

Conventions as in :mod:`ledger.vehicles`: services flush, callers commit.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, TypeAlias, cast

from sqlalchemy import (
    CursorResult,
    Table,
    case,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger import consent, telemetry, uploads
from ledger.errors import ConflictError, NotFoundError, ValidationError
from ledger.store import ingest_pg
from ledger.store.models import Trip, TripStatus, Upload
from ledger.telemetry import Algorithm, Reason, Status, TripSummary, Verdict
from ledger.vehicles import (
    OwnershipRecord,
    check_time,
    latest_device_key,
    latest_device_keys,
    owner_in_history,
    ownership_history,
)

__all__ = [
    "MAX_BATCH",
    "BatchTelemetryContext",
    "ReviewDecision",
    "StoreTelemetryContext",
    "review_hold",
    "submit_reports",
    "submit_uploads",
    "upload_verdicts",
    "valid_metres_by_vehicle",
    "vehicles_with_open_holds",
]

MAX_BATCH: Final = 1_000
# A collision means a concurrent writer won; a second one in a row for the same report would be a bug.
_MAX_ATTEMPTS: Final = 3
_CHUNK: Final = 500  # values per IN list, well under every database's bound on parameters
_TRIPS: Final = cast("Table", Trip.__table__)
_UPLOADS: Final = cast("Table", Upload.__table__)
_AFTER_REPLAY: Final = frozenset({Reason.STALE, Reason.FROM_FUTURE, Reason.NO_CONSENT})
_REVIEWER_RE: Final = re.compile(r"[\x21-\x7e][\x20-\x7e]{0,63}")
_COUNTED: Final = (TripStatus.ACCEPTED, TripStatus.RELEASED)
_EVER_HELD: Final = (TripStatus.HELD, TripStatus.RELEASED, TripStatus.DENIED)
_RECORDED_STATUS: Final = {Status.ACCEPTED: TripStatus.ACCEPTED, Status.HELD: TripStatus.HELD}


class ReviewDecision(StrEnum):
    RELEASE = "release"
    DENY = "deny"


_DECISIONS: Final = frozenset(member.value for member in ReviewDecision)


def _postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _stored_status(session: Session, status: TripStatus) -> str:
    """``status`` as the trips table stores it (the enum's bind processing, whatever it is)."""
    process = _TRIPS.c.status.type.bind_processor(session.get_bind().dialect)
    return str(process(status) if process else status)


def _hex(digest: bytes) -> str:
    return "0x" + digest.hex()


class StoreTelemetryContext:
    """``ledger.telemetry.TelemetryContext`` over the session's view of the store.

    Reads go through the session, so rows flushed earlier in the same transaction (earlier reports of the
    batch) are seen. Device keys, ownership histories and consent spans are memoised for the context's
    life, one batch, because ingest never writes them: a batch costs one lookup of each per car or owner,
    not per report. A change by a concurrent writer during the batch is seen by the next batch.
    """

    def __init__(self, session: Session) -> None:
        self._session = session
        self._keys: dict[str, telemetry.DeviceKey | None] = {}
        self._owners: dict[str, list[OwnershipRecord]] = {}
        self._consents: dict[str, list[tuple[int, int | None]]] = {}

    def device_key(self, vehicle_id: str) -> telemetry.DeviceKey | None:
        if vehicle_id not in self._keys:
            row = latest_device_key(self._session, vehicle_id)
            self._keys[vehicle_id] = (
                None
                if row is None
                else telemetry.DeviceKey(Algorithm(row.algorithm), row.public_key, row.revoked_at is not None)
            )
        return self._keys[vehicle_id]

    def seen_sequence(self, vehicle_id: str, seq: int) -> bool:
        query = select(Trip.id).where(Trip.vehicle_id == vehicle_id, Trip.seq == seq)
        return self._session.scalars(query).first() is not None

    def seen_payload(self, payload_hash: bytes) -> bool:
        query = select(Trip.id).where(Trip.payload_hash == _hex(payload_hash))
        return self._session.scalars(query).first() is not None

    def last_trip(self, vehicle_id: str) -> TripSummary | None:
        # The highest sequence, not the latest arrival: an old sequence sent late must not reset history.
        query = (
            select(Trip.seq, Trip.started_at, Trip.ended_at, Trip.odometer_end_m)
            .where(Trip.vehicle_id == vehicle_id, Trip.status != TripStatus.DENIED)
            .order_by(Trip.seq.desc())
            .limit(1)
        )
        row = self._session.execute(query).first()
        return None if row is None else TripSummary(*row)

    def consent_active(self, vehicle_id: str, at: int) -> bool:
        if vehicle_id not in self._owners:
            self._owners[vehicle_id] = ownership_history(self._session, [vehicle_id])
        owner = owner_in_history(self._owners[vehicle_id], at)
        if owner is None:
            return False
        if owner not in self._consents:
            self._consents[owner] = consent.consent_spans(self._session, owner)
        return consent.unbroken_since(self._consents[owner], at)


# --- submission --------------------------------------------------------------------------------------


def _last_trips(session: Session, vehicle_ids: Sequence[str]) -> dict[str, TripSummary]:
    """``StoreTelemetryContext.last_trip`` of each car, in one query per 500 cars (PostgreSQL reads it with
    a LATERAL join instead, :mod:`ledger.store.ingest_pg`)."""
    last: dict[str, TripSummary] = {}
    counted = Trip.status != TripStatus.DENIED
    summary = (Trip.seq, Trip.started_at, Trip.ended_at, Trip.odometer_end_m)
    for start in range(0, len(vehicle_ids), _CHUNK):
        highest = (
            select(Trip.vehicle_id, func.max(Trip.seq).label("seq"))
            .where(Trip.vehicle_id.in_(vehicle_ids[start : start + _CHUNK]), counted)
            .group_by(Trip.vehicle_id)
            .subquery()
        )
        query = select(Trip.vehicle_id, *summary).join(
            highest, (Trip.vehicle_id == highest.c.vehicle_id) & (Trip.seq == highest.c.seq)
        )
        for vehicle_id, *row in session.execute(query):
            last[vehicle_id] = TripSummary(*row)
    return last


class BatchTelemetryContext:
    """``ledger.telemetry.TelemetryContext`` over a snapshot of what a batch's reports can ask about, read in
    a handful of set-based queries, then kept current as the batch's own reports are recorded.

    The snapshot is taken inside the batch's transaction. With ``replays=True`` it also reads which of the
    batch's sequences and payload hashes are already stored, and then answers exactly as
    :class:`StoreTelemetryContext` would for reports verified one by one, provided nobody else writes those
    cars' trips meanwhile. With ``replays=False`` (the optimistic first pass) it assumes none is: the insert
    that follows must then skip conflicting rows, and any skipped row means the batch is verified again.
    """

    def __init__(
        self,
        session: Session,
        reports: Sequence[telemetry.TripReport],
        digests: Sequence[bytes],
        *,
        replays: bool = True,
    ) -> None:
        vehicle_ids = sorted({report.vehicle_id for report in reports})
        self._payloads: set[bytes] = set()
        self._sequences: set[tuple[str, int]] = set()
        self._owners: dict[str, list[OwnershipRecord]] = {}
        if _postgresql(session):
            self._read_postgresql(session, vehicle_ids)
        else:
            self._keys = latest_device_keys(session, vehicle_ids)
            self._last = _last_trips(session, vehicle_ids)
            for record in ownership_history(session, vehicle_ids):
                self._owners.setdefault(record.vehicle_id, []).append(record)
            owners = {record.account for records in self._owners.values() for record in records}
            self._consents = consent.consent_spans_by_account(session, owners)
        if replays:
            self._read_replays(session, reports, digests)

    def _read_postgresql(self, session: Session, vehicle_ids: list[str]) -> None:
        """The snapshot of the branch above, read by the same queries as prepared statements
        (:mod:`ledger.store.ingest_pg`)."""
        stored = ingest_pg.snapshot(session, vehicle_ids, _stored_status(session, TripStatus.DENIED))
        self._keys = {
            vehicle_id: telemetry.DeviceKey(Algorithm(algorithm), public_key, revoked_at is not None)
            for vehicle_id, algorithm, public_key, revoked_at in stored.keys
        }
        self._last = {row[0]: TripSummary(*row[1:]) for row in stored.last}
        # In time order per car, as ownership_history gives them: owner_in_history bisects on the time.
        records = (OwnershipRecord(*row) for row in stored.ownerships)
        for record in sorted(records, key=lambda record: (record.vehicle_id, record.from_time)):
            self._owners.setdefault(record.vehicle_id, []).append(record)
        owners = {record.account for records in self._owners.values() for record in records}
        self._consents = consent.spans_by_account(stored.consents, owners)

    def _read_replays(
        self, session: Session, reports: Sequence[telemetry.TripReport], digests: Sequence[bytes]
    ) -> None:
        wanted = {(report.vehicle_id, report.seq) for report in reports}
        vehicle_ids = sorted({vehicle_id for vehicle_id, _ in wanted})
        for start in range(0, len(vehicle_ids), _CHUNK):
            chunk = vehicle_ids[start : start + _CHUNK]
            seqs = sorted({seq for vehicle_id, seq in wanted if vehicle_id in chunk})
            query = select(Trip.vehicle_id, Trip.seq).where(Trip.vehicle_id.in_(chunk), Trip.seq.in_(seqs))
            for vehicle_id, seq in session.execute(query):
                if (vehicle_id, seq) in wanted:
                    self._sequences.add((vehicle_id, seq))
        hashes = sorted({_hex(digest) for digest in digests})
        for start in range(0, len(hashes), _CHUNK):
            stored = select(Trip.payload_hash).where(Trip.payload_hash.in_(hashes[start : start + _CHUNK]))
            self._payloads.update(bytes.fromhex(text[2:]) for text in session.scalars(stored))

    def device_key(self, vehicle_id: str) -> telemetry.DeviceKey | None:
        return self._keys.get(vehicle_id)

    def seen_sequence(self, vehicle_id: str, seq: int) -> bool:
        return (vehicle_id, seq) in self._sequences

    def seen_payload(self, payload_hash: bytes) -> bool:
        return payload_hash in self._payloads

    def last_trip(self, vehicle_id: str) -> TripSummary | None:
        return self._last.get(vehicle_id)

    def consent_active(self, vehicle_id: str, at: int) -> bool:
        owner = owner_in_history(self._owners.get(vehicle_id, []), at)
        return owner is not None and consent.unbroken_since(self._consents.get(owner, []), at)

    def record(self, report: telemetry.TripReport, digest: bytes) -> None:
        """The batch recorded ``report`` (accepted or held, so it counts as history)."""
        self._payloads.add(digest)
        self._sequences.add((report.vehicle_id, report.seq))
        last = self._last.get(report.vehicle_id)
        if last is None or report.seq > last.seq:
            self._last[report.vehicle_id] = TripSummary.of(report)


@dataclass(frozen=True, slots=True)
class _Parsed:
    """A report that parsed, with its canonical bytes and payload hash; ``upload`` indexes the call's
    upload envelopes for a report that came in one."""

    report: telemetry.TripReport
    message: bytes
    digest: bytes
    upload: int | None = None


@dataclass(frozen=True, slots=True)
class _ParsedUpload:
    upload: uploads.Upload
    digests: tuple[bytes, ...]
    upload_hash: str  # 0x-hex

    @classmethod
    def of(cls, upload: uploads.Upload, digests: tuple[bytes, ...]) -> _ParsedUpload:
        return cls(upload, digests, _hex(uploads.upload_hash(upload.vehicle_id, upload.algorithm, digests)))


_Item: TypeAlias = _Parsed | Verdict


def _trip_row(
    item: _Parsed, verdict: Verdict, envelopes: Sequence[_ParsedUpload], now: int
) -> dict[str, object]:
    report, digest = item.report, item.digest
    upload = None if item.upload is None else envelopes[item.upload]
    return {
        "vehicle_id": report.vehicle_id,
        "seq": report.seq,
        "payload_hash": _hex(digest),
        "started_at": report.started_at,
        "ended_at": report.ended_at,
        "odometer_start_m": report.odometer_start_m,
        "odometer_end_m": report.odometer_end_m,
        "energy_wh": report.energy_wh,
        "drive_mode": report.drive_mode.wire_name,
        "checkin_ids": json.dumps(list(report.checkin_ids)),
        "status": _RECORDED_STATUS[verdict.status],
        "reason": verdict.reason.value,
        "detail": verdict.detail,
        "received_at": now,
        "reviewed_at": None,
        "reviewer": None,
        "details_deleted": False,
        "signature": None if upload is not None else _hex(report.signature),
        "upload_hash": None if upload is None else upload.upload_hash,
    }


def _upload_rows(
    items: Sequence[_Item], verdicts: Sequence[Verdict], envelopes: Sequence[_ParsedUpload], now: int
) -> list[dict[str, object]]:
    """The ``uploads`` rows of the envelopes that brought a recorded trip."""
    used = sorted(
        {
            item.upload
            for item, verdict in zip(items, verdicts, strict=True)
            if isinstance(item, _Parsed) and item.upload is not None and verdict.recorded
        }
    )
    return [
        {
            "upload_hash": envelopes[index].upload_hash,
            "vehicle_id": envelopes[index].upload.vehicle_id,
            "algorithm": envelopes[index].upload.algorithm.value,
            "signature": _hex(envelopes[index].upload.signature),
            "payload_hashes": json.dumps([_hex(digest) for digest in envelopes[index].digests]),
            "received_at": now,
        }
        for index in used
    ]


def _record_uploads(session: Session, rows: list[dict[str, object]]) -> None:
    """Stores the envelopes not stored yet (the same upload sent again is the same row)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        ingest_pg.insert_uploads(session, json.dumps(rows))
    elif dialect == "sqlite":
        session.execute(sqlite.insert(_UPLOADS).on_conflict_do_nothing(), rows)
    else:
        hashes = [row["upload_hash"] for row in rows]
        stored = set(session.scalars(select(Upload.upload_hash).where(Upload.upload_hash.in_(hashes))))
        if new := [row for row in rows if row["upload_hash"] not in stored]:
            session.execute(_UPLOADS.insert(), new)


def _signed(
    envelopes: Sequence[_ParsedUpload], ctx: BatchTelemetryContext | StoreTelemetryContext
) -> list[bool]:
    """Whether each envelope's signature verifies under its car's registered key: one check per upload."""
    return [
        uploads.signature_valid(parsed.upload, ctx.device_key(parsed.upload.vehicle_id), parsed.digests)
        for parsed in envelopes
    ]


def _verify(item: _Parsed, ctx: telemetry.TelemetryContext, signed: Sequence[bool], now: int) -> Verdict:
    upload_signed = None if item.upload is None else signed[item.upload]
    return telemetry.verify_report(
        item.report, ctx, now, encoded=(item.message, item.digest), upload_signed=upload_signed
    )


def _ingest_one(
    session: Session,
    ctx: StoreTelemetryContext,
    item: _Parsed,
    envelopes: Sequence[_ParsedUpload],
    signed: Sequence[bool],
    now: int,
) -> Verdict:
    for _ in range(_MAX_ATTEMPTS):
        verdict = _verify(item, ctx, signed, now)
        if not verdict.recorded:
            return verdict
        try:
            with session.begin_nested():
                session.execute(_TRIPS.insert(), [_trip_row(item, verdict, envelopes, now)])
        except IntegrityError:
            continue  # a concurrent writer recorded this sequence or payload first: verify again
        return verdict
    raise ConflictError(f"report kept colliding with concurrent writes after {_MAX_ATTEMPTS} attempts")


def _parsed(report: telemetry.TripReport, upload: int | None = None) -> _Parsed:
    message = telemetry.canonical_bytes(report)
    return _Parsed(report, message, hashlib.sha256(message).digest(), upload)


def _parse(raw_reports: Sequence[object]) -> list[_Item]:
    """Each report parsed, with its canonical bytes and payload hash, or its MALFORMED verdict."""
    items: list[_Item] = []
    for raw in raw_reports:
        report = telemetry.parse(raw)
        items.append(report if isinstance(report, Verdict) else _parsed(report))
    return items


def _malformed(detail: str) -> Verdict:
    return Verdict(Status.REJECTED, Reason.MALFORMED, detail)


def _parse_uploads(raw_uploads: Sequence[object]) -> tuple[list[list[_Item]], list[_ParsedUpload]]:
    """Each upload's reports parsed (per upload, in order), and the envelopes that parsed. An upload that
    does not parse as a whole answers MALFORMED for each of its reports (once if it has no report list)."""
    groups: list[list[_Item]] = []
    envelopes: list[_ParsedUpload] = []
    for raw in raw_uploads:
        try:
            upload = uploads.parse_upload(raw)
        except ValidationError as exc:
            groups.append([_malformed(str(exc))] * upload_verdicts(raw))
            continue
        items = [_parsed(report, len(envelopes)) for report in upload.reports]
        envelopes.append(_ParsedUpload.of(upload, tuple(item.digest for item in items)))
        groups.append(list(items))
    return groups, envelopes


def upload_verdicts(raw: object) -> int:
    """How many verdicts :func:`submit_uploads` answers for the upload ``raw``: one per report it lists,
    and one for an upload that lists none."""
    reports = raw.get("reports") if isinstance(raw, Mapping) else None
    return max(1, len(reports)) if isinstance(reports, list) else 1


def _verify_batch(
    session: Session, items: Sequence[_Item], envelopes: Sequence[_ParsedUpload], now: int, *, replays: bool
) -> list[Verdict]:
    good = [item for item in items if isinstance(item, _Parsed)]
    ctx = BatchTelemetryContext(
        session, [item.report for item in good], [item.digest for item in good], replays=replays
    )
    signed = _signed(envelopes, ctx)
    verdicts: list[Verdict] = []
    for item in items:
        if isinstance(item, Verdict):
            verdicts.append(item)
            continue
        verdict = _verify(item, ctx, signed, now)
        if verdict.recorded:
            ctx.record(item.report, item.digest)
        verdicts.append(verdict)
    return verdicts


def _insert_new(session: Session, rows: list[dict[str, object]]) -> bool:
    """Inserts ``rows`` unless one of them collides with a stored sequence or payload hash; then inserts
    none and answers False. No SAVEPOINT: ON CONFLICT DO NOTHING never aborts the transaction, and the rows
    that did go in are deleted again by id."""
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql":
        stored = {status: _stored_status(session, status) for status in _RECORDED_STATUS.values()}
        ids = ingest_pg.insert_trips(
            session,
            json.dumps([{**row, "status": stored[cast("TripStatus", row["status"])]} for row in rows]),
        )
    elif dialect.name == "sqlite":
        statement = sqlite.insert(_TRIPS).on_conflict_do_nothing().returning(_TRIPS.c.id)
        ids = list(session.scalars(statement, rows))
    else:  # no portable INSERT ... ON CONFLICT DO NOTHING: take the careful path
        return False
    if len(ids) == len(rows):
        return True
    if ids:
        session.execute(delete(Trip).where(Trip.id.in_(ids)).execution_options(synchronize_session=False))
    return False


def _rows(
    items: Sequence[_Item], verdicts: Sequence[Verdict], envelopes: Sequence[_ParsedUpload], now: int
) -> list[dict[str, object]]:
    return [
        _trip_row(item, verdict, envelopes, now)
        for item, verdict in zip(items, verdicts, strict=True)
        if isinstance(item, _Parsed) and verdict.recorded
    ]


def _ingest_batch(
    session: Session, items: Sequence[_Item], envelopes: Sequence[_ParsedUpload], now: int
) -> list[Verdict] | None:
    """Every report verified against one snapshot and recorded in one multi-row insert; None when a
    concurrent writer recorded one of the same sequences or payloads first (nothing is then written).

    The first pass is optimistic: new reports are the rule, so it does not look up stored sequences and
    payload hashes but lets the unique constraints find them; if they find one, the batch is verified
    again against a snapshot that includes them (the answer a one-by-one verification gives)."""
    verdicts = _verify_batch(session, items, envelopes, now, replays=False)
    # A refusal after the replay step would have been DUPLICATE or REPLAYED_SEQUENCE had the report been
    # seen before, and no insert collides to tell: only a pass without such refusals can stand.
    if not any(verdict.reason in _AFTER_REPLAY for verdict in verdicts):
        rows = _rows(items, verdicts, envelopes, now)
        if not rows or _insert_new(session, rows):
            return verdicts
    verdicts = _verify_batch(session, items, envelopes, now, replays=True)
    rows = _rows(items, verdicts, envelopes, now)
    if rows:
        try:
            with session.begin_nested():
                session.execute(_TRIPS.insert(), rows)
        except IntegrityError:
            return None
    return verdicts


def _submit(
    session: Session, items: Sequence[_Item], envelopes: Sequence[_ParsedUpload], now: int
) -> list[Verdict]:
    verdicts = _ingest_batch(session, items, envelopes, now)
    if verdicts is None:  # a concurrent writer got in first: start over, one by one
        ctx = StoreTelemetryContext(session)
        signed = _signed(envelopes, ctx)
        verdicts = [
            item if isinstance(item, Verdict) else _ingest_one(session, ctx, item, envelopes, signed, now)
            for item in items
        ]
    _record_uploads(session, _upload_rows(items, verdicts, envelopes, now))
    return verdicts


def _check_call(now: int, raw: object, what: str) -> None:
    check_time("now", now)
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise ValidationError(f"{what} must be a list, got {type(raw).__name__}")


def submit_reports(session: Session, raw_reports: Sequence[Mapping[str, object]], now: int) -> list[Verdict]:
    """Verifies and records each signed report in order; one verdict per report (module docstring)."""
    _check_call(now, raw_reports, "reports")
    if len(raw_reports) > MAX_BATCH:
        raise ValidationError(f"at most {MAX_BATCH} reports per call, got {len(raw_reports)}")
    return _submit(session, _parse(raw_reports), [], now)


def submit_uploads(
    session: Session, raw_uploads: Sequence[Mapping[str, object]], now: int
) -> list[list[Verdict]]:
    """Verifies and records the reports of each upload envelope (:mod:`ledger.uploads`), uploads in order
    and reports in order within each; one verdict per report, grouped by upload. At most ``MAX_BATCH``
    reports in all; every other rule is that of :func:`submit_reports`."""
    _check_call(now, raw_uploads, "uploads")
    total = sum(upload_verdicts(raw) for raw in raw_uploads)
    if total > MAX_BATCH:
        raise ValidationError(f"at most {MAX_BATCH} reports per call in all uploads, got {total}")
    groups, envelopes = _parse_uploads(raw_uploads)
    verdicts = iter(_submit(session, [item for group in groups for item in group], envelopes, now))
    return [[next(verdicts) for _ in group] for group in groups]


# --- review ------------------------------------------------------------------------------------------


def _decision(value: object) -> ReviewDecision:
    if isinstance(value, str) and value in _DECISIONS:
        return ReviewDecision(value)
    raise ValidationError(f"decision must be 'release' or 'deny', got {value!r}")


def review_hold(
    session: Session, trip_id: int, decision: ReviewDecision | str, reviewer: str, now: int
) -> Trip:
    """Releases or denies a held trip; ``reviewer`` (1..64 printable ASCII) is recorded with ``now``."""
    choice = _decision(decision)
    if type(reviewer) is not str or not _REVIEWER_RE.fullmatch(reviewer):
        raise ValidationError("reviewer must be 1..64 printable ASCII characters, not starting with a space")
    check_time("now", now)
    trip = session.get(Trip, trip_id)
    if trip is None:
        raise NotFoundError(f"trip {trip_id} does not exist")
    outcome = TripStatus.RELEASED if choice is ReviewDecision.RELEASE else TripStatus.DENIED
    # Conditional on still being held, so of two racing reviewers exactly one wins.
    result = session.execute(
        update(Trip)
        .where(Trip.id == trip_id, Trip.status == TripStatus.HELD)
        .values(status=outcome, reviewed_at=now, reviewer=reviewer)
        .execution_options(synchronize_session=False)
    )
    if cast("CursorResult[Any]", result).rowcount != 1:
        session.refresh(trip)
        raise ConflictError(f"trip {trip_id} is {trip.status.value}; only a held trip can be reviewed")
    session.refresh(trip)
    return trip


# --- settlement inputs -------------------------------------------------------------------------------


def valid_metres_by_vehicle(session: Session, window_start: int, window_end: int) -> dict[str, int]:
    """Valid metres per car from trips ended in ``(window_start, window_end]``; cars without any omitted."""
    check_time("window_start", window_start)
    if check_time("window_end", window_end) < window_start:
        raise ValidationError(f"window ends at {window_end}, before it starts at {window_start}")
    advance = Trip.odometer_end_m - Trip.odometer_start_m
    distance = case((Trip.odometer_end_m > Trip.odometer_start_m, advance), else_=0)
    query = (
        select(Trip.vehicle_id, func.sum(distance))
        .where(Trip.status.in_(_COUNTED), Trip.ended_at > window_start, Trip.ended_at <= window_end)
        .group_by(Trip.vehicle_id)
    )
    # PostgreSQL sums BIGINT as NUMERIC (a Decimal here): back to int, exactly.
    return {vehicle_id: int(total) for vehicle_id, total in session.execute(query) if total}


def vehicles_with_open_holds(session: Session, at: int) -> set[str]:
    """Cars with a report held at or before ``at`` and not reviewed by ``at``."""
    check_time("at", at)
    query = (
        select(Trip.vehicle_id)
        .where(
            Trip.status.in_(_EVER_HELD),
            Trip.received_at <= at,
            or_(Trip.reviewed_at.is_(None), Trip.reviewed_at > at),
        )
        .distinct()
    )
    return set(session.scalars(query))
