"""Cars (scope ``cars``): register, read, rotate and revoke the device key, transfer ownership."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from eth_account import Account

from tests.api.conftest import Api
from tests.api.helpers import Unchanged, assert_problem

VIN = "LYSAPXTEST0000001"


def ed25519_key() -> str:
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "0x" + raw.hex()


def p256_key(compressed: bool = True) -> str:
    form = PublicFormat.CompressedPoint if compressed else PublicFormat.UncompressedPoint
    return "0x" + ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(Encoding.X962, form).hex()


def registration(vehicle_id: str, vin: str, owner: str | None = None) -> dict[str, str]:
    return {
        "vehicle_id": vehicle_id,
        "vin": vin,
        "device_public_key": ed25519_key(),
        "algorithm": "ed25519",
        "owner": owner or Account.create().address.lower(),
    }


def test_register_a_car_and_read_it_back_without_the_vin(module_api: Api) -> None:
    body = registration("api-car-1", VIN)
    response = module_api.client.post("/v1/cars", json=body, headers=module_api.auth("cars"))
    assert response.status_code == 201, response.text
    car = response.json()
    assert car["vehicle_id"] == "api-car-1"
    assert car["owner"]["account"].lower() == body["owner"]
    assert car["owner"]["account"] != body["owner"]  # answered checksummed
    assert car["device_key"] == {
        "algorithm": "ed25519",
        "public_key": body["device_public_key"],
        "created_at": car["registered_at"],
        "revoked_at": None,
    }
    assert VIN not in response.text
    assert car["vin_hash"].startswith("0x")
    again = module_api.client.get("/v1/cars/api-car-1", headers=module_api.auth("cars"))
    assert again.json() == car


def test_registering_the_same_car_or_vin_twice_is_a_conflict(module_api: Api) -> None:
    with Unchanged(module_api):
        same_id = registration("api-car-1", "LYSAPXTEST0000009")
        assert_problem(module_api.client.post("/v1/cars", json=same_id, headers=module_api.auth("cars")), 409)
        same_vin = registration("api-car-2", VIN.lower())  # one VIN in any case
        response = module_api.client.post("/v1/cars", json=same_vin, headers=module_api.auth("cars"))
    assert_problem(response, 409, "conflict", "VIN")
    assert VIN not in response.text


def test_invalid_registrations_are_422_naming_the_problem_and_never_echo_the_vin(module_api: Api) -> None:
    cases = [
        (registration("bad id!", "LYSAPXTEST0000003"), "vehicle_id"),
        (registration("api-car-3", "LYSAPXTEST000000I"), "VIN"),  # I is not in ISO 3779
        (
            registration("api-car-3", "LYSAPXTEST0000003") | {"device_public_key": "0x1234"},
            "device_public_key",
        ),
        (
            registration("api-car-3", "LYSAPXTEST0000003")
            | {"device_public_key": "0x02" + "ff" * 32, "algorithm": "p256"},
            "key",
        ),
        (registration("api-car-3", "LYSAPXTEST0000003") | {"algorithm": "rsa"}, "algorithm"),
        (registration("api-car-3", "LYSAPXTEST0000003") | {"owner": "0x" + "0" * 40}, "zero address"),
        (registration("api-car-3", "LYSAPXTEST0000003") | {"owner": "0xABCDEF" + "a" * 34}, "checksum"),
        (registration("api-car-3", "LYSAPXTEST0000003") | {"colour": "red"}, "colour"),
    ]
    for body, mention in cases:
        with Unchanged(module_api):
            response = module_api.client.post("/v1/cars", json=body, headers=module_api.auth("cars"))
        assert_problem(response, 422, None, mention)
        assert "LYSAPXTEST000000I" not in response.text


def test_rotate_then_revoke_the_device_key(module_api: Api) -> None:
    headers = module_api.auth("cars")
    new_key = p256_key(compressed=True)
    response = module_api.client.post(
        "/v1/cars/api-car-1/keys", json={"device_public_key": new_key, "algorithm": "p256"}, headers=headers
    )
    assert response.status_code == 201, response.text
    key = response.json()["device_key"]
    assert key["algorithm"] == "p256"
    assert len(key["public_key"]) == 2 + 130  # stored uncompressed
    assert key["revoked_at"] is None
    # A key belongs to one car, once.
    reuse = module_api.client.post(
        "/v1/cars/car-00001/keys", json={"device_public_key": new_key, "algorithm": "p256"}, headers=headers
    )
    assert_problem(reuse, 409)
    revoked = module_api.client.post("/v1/cars/api-car-1/keys/revoke", headers=headers)
    assert revoked.status_code == 200
    assert revoked.json()["device_key"]["revoked_at"] is not None
    assert_problem(module_api.client.post("/v1/cars/api-car-1/keys/revoke", headers=headers), 409, "conflict")


def test_transfer_ownership(module_api: Api) -> None:
    headers = module_api.auth("cars")
    buyer = Account.create().address
    module_api.world.chain.advance(10)  # a transfer must come after registration
    response = module_api.client.post(
        "/v1/cars/api-car-1/transfers", json={"new_owner": buyer}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["owner"]["account"] == buyer
    again = module_api.client.post("/v1/cars/api-car-1/transfers", json={"new_owner": buyer}, headers=headers)
    assert_problem(again, 409, "conflict", "already owns")


def test_unknown_and_malformed_cars(module_api: Api) -> None:
    headers = module_api.auth("cars")
    assert_problem(module_api.client.get("/v1/cars/nope", headers=headers), 404, "not-found")
    assert_problem(module_api.client.post("/v1/cars/nope/keys/revoke", headers=headers), 404)
    response = module_api.client.get("/v1/cars/bad%20id", headers=headers)
    assert_problem(response, 422, "invalid-input", "vehicle_id")
