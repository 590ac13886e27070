"""vehicles, consent, ingest: device-key uniqueness, re-verifiable consent rows, the open-holds index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 17:14:52.574306

* ``device_keys.public_key`` becomes unique: a device key belongs to one car, once, so a revoked key can
  never be registered again (P-256 keys are stored uncompressed, so each key has exactly one form).
* ``consents`` gains the signed fields that were missing to re-verify a stored signature: the chain id of
  the EIP-712 domain, the grant's ``issuedAt`` and the revocation's ``issuedAt``. Nothing wrote consents
  before this revision, so the table is empty and the NOT NULL columns need no backfill.
* ``trips.status`` gets an index for the open-holds query.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chain_id", sa.BigInteger(), nullable=False))
        batch_op.add_column(sa.Column("issued_at", sa.BigInteger(), nullable=False))
        batch_op.add_column(sa.Column("revocation_issued_at", sa.BigInteger(), nullable=True))

    with op.batch_alter_table("device_keys", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_device_keys_public_key", ["public_key"])

    with op.batch_alter_table("trips", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trips_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("trips", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trips_status"))

    with op.batch_alter_table("device_keys", schema=None) as batch_op:
        batch_op.drop_constraint("uq_device_keys_public_key", type_="unique")

    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_column("revocation_issued_at")
        batch_op.drop_column("issued_at")
        batch_op.drop_column("chain_id")
