"""A synthetic fleet for the demo, the end-to-end tests and benchmarks: cars with device keys that sign
plausible trip reports, owners with wallet keys who sign consent, app users who complete tasks.

Everything is deterministic from a seed. Floats shape the random mileage only; every value that reaches
the ledger is an integer (metres, Wh, seconds).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy.orm import Session

from ledger import consent, vehicles
from ledger.telemetry import Algorithm, DriveMode, TripReport, report_to_json, sign_report
from ledger.uploads import Upload, sign_upload, upload_to_json

VIN_ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
TASK_CHOICES = ("daily_checkin", "community_post", "community_comment", "survey", "public_charging")


@dataclass
class SimCar:
    vehicle_id: str
    vin: str
    algorithm: Algorithm
    private_key: Ed25519PrivateKey | ec.EllipticCurvePrivateKey
    owner: LocalAccount
    seq: int = 0
    odometer_m: int = 0
    busy_until: int = 0

    @property
    def public_key(self) -> bytes:
        encoding = PublicFormat.Raw if self.algorithm is Algorithm.ED25519 else PublicFormat.UncompressedPoint
        return self.private_key.public_key().public_bytes(
            Encoding.Raw if self.algorithm is Algorithm.ED25519 else Encoding.X962, encoding
        )


@dataclass
class Fleet:
    cars: list[SimCar]
    owners: list[LocalAccount]
    rng: random.Random
    implausible: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, cars: int, owners: int, seed: int = 7) -> Fleet:
        rng = random.Random(seed)
        accounts = [Account.from_key(rng.randbytes(32)) for _ in range(owners)]
        fleet: list[SimCar] = []
        for index in range(cars):
            algorithm = Algorithm.ED25519 if index % 4 else Algorithm.P256
            key: Ed25519PrivateKey | ec.EllipticCurvePrivateKey
            if algorithm is Algorithm.ED25519:
                key = Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))
            else:
                key = ec.derive_private_key(rng.randrange(1, 2**255), ec.SECP256R1())
            vin = "LYS" + "".join(rng.choice(VIN_ALPHABET) for _ in range(14))
            owner = accounts[index % owners]
            fleet.append(
                SimCar(f"car-{index:05d}", vin, algorithm, key, owner, odometer_m=rng.randrange(10**6))
            )
        return cls(fleet, accounts, rng)

    def enrol(
        self,
        session: Session,
        vin_salt: bytes,
        chain_id: int,
        now: int,
        consenting: Sequence[bool] | None = None,
    ) -> None:
        """Registers every car with its device key and owner, and records each consenting owner's signed
        data-rights consent (all owners unless ``consenting`` says otherwise), straight through the ledger."""
        for car in self.cars:
            vehicles.register_vehicle(
                session,
                car.vehicle_id,
                car.vin,
                vin_salt,
                car.public_key,
                car.algorithm,
                car.owner.address,
                now,
            )
        for index, owner in enumerate(self.owners):
            if consenting is None or consenting[index]:
                grant = consent.ConsentGrant(owner.address, "1.0", ("trip_summaries", "app_activity"), now)
                signature = consent.sign(grant, bytes(owner.key), chain_id)
                consent.grant_consent(session, grant, signature, chain_id, now)

    def trips_between(self, start: int, end: int, implausible_rate: float = 0.0) -> list[dict[str, object]]:
        """Signed reports of the trips every car drives in ``[start, end)``: 0-3 a day, realistic speeds
        and consumption; with ``implausible_rate`` some are impossibly fast (they must be held)."""
        return [
            report_to_json(sign_report(report, car.private_key))
            for car, report in self.drive(start, end, implausible_rate)
        ]

    def uploads_between(self, start: int, end: int, implausible_rate: float = 0.0) -> list[dict[str, object]]:
        """The same trips as :meth:`trips_between` would give, sent the other way: one upload envelope per
        car that drove, its reports unsigned and the envelope signed once (``ledger.uploads``)."""
        return self.envelopes(self.drive(start, end, implausible_rate))

    def drive(self, start: int, end: int, implausible_rate: float = 0.0) -> list[tuple[SimCar, TripReport]]:
        """The unsigned trips every car drives in ``[start, end)``, car by car, each car's in order."""
        trips: list[tuple[SimCar, TripReport]] = []
        for car in self.cars:
            for _ in range(self.rng.choice((0, 1, 1, 2, 2, 3))):
                report = self._trip(car, start, end, self.rng.random() < implausible_rate)
                if report is not None:
                    trips.append((car, report))
        return trips

    @classmethod
    def envelopes(cls, trips: Sequence[tuple[SimCar, TripReport]]) -> list[dict[str, object]]:
        """``trips`` (as :meth:`drive` gives them) as one signed upload envelope per car, cars in order of
        their first trip, each car's trips in order."""
        by_car: dict[str, tuple[SimCar, list[TripReport]]] = {}
        for car, report in trips:
            by_car.setdefault(car.vehicle_id, (car, []))[1].append(report)
        return [cls.envelope(car, reports) for car, reports in by_car.values()]

    @staticmethod
    def envelope(car: SimCar, reports: Sequence[TripReport]) -> dict[str, object]:
        """``reports`` of ``car`` in one upload envelope signed with its device key, as JSON."""
        upload = Upload(vehicle_id=car.vehicle_id, algorithm=car.algorithm, reports=tuple(reports))
        return upload_to_json(sign_upload(upload, car.private_key))

    def _trip(self, car: SimCar, start: int, end: int, implausible: bool) -> TripReport | None:
        begin = max(start, car.busy_until + 600) + self.rng.randrange(0, max(1, (end - start) // 3))
        km = max(1.0, self.rng.lognormvariate(3.0, 0.6))  # median ~20 km a trip
        kmh = self.rng.uniform(25, 90) if not implausible else self.rng.uniform(400, 900)
        duration = max(60, int(km / kmh * 3600))
        if begin + duration >= end:
            return None
        metres = int(km * 1000)
        energy = int(km * self.rng.uniform(120, 220))
        car.seq += 1
        report = TripReport(
            vehicle_id=car.vehicle_id,
            seq=car.seq,
            started_at=begin,
            ended_at=begin + duration,
            odometer_start_m=car.odometer_m,
            odometer_end_m=car.odometer_m + metres,
            energy_wh=energy,
            drive_mode=self.rng.choice(list(DriveMode)),
            algorithm=car.algorithm,
        )
        car.odometer_m += metres
        car.busy_until = begin + duration
        if implausible:
            self.implausible.append(car.vehicle_id)
        return report
