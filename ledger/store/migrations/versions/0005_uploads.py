"""uploads: upload envelopes, and how each trip was signed

Revision ID: 0005
Revises: 0004

Additive only (a new table, two nullable columns and an index), so it is safe on a populated database;
trips stored before it keep a null signature.

* ``uploads``: each upload envelope that brought a recorded trip, with its signature and hash list.
* ``trips.signature``: the report's own device signature; ``trips.upload_hash``: its envelope instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column("upload_hash", sa.String(length=66), nullable=False),
        sa.Column("vehicle_id", sa.String(length=64), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.Column("signature", sa.String(length=130), nullable=False),
        sa.Column("payload_hashes", sa.Text(), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["vehicle_id"], ["vehicles.id"]),
        sa.PrimaryKeyConstraint("upload_hash"),
    )
    op.create_index(op.f("ix_uploads_vehicle_id"), "uploads", ["vehicle_id"], unique=False)
    with op.batch_alter_table("trips") as batch:
        batch.add_column(sa.Column("signature", sa.String(length=130), nullable=True))
        batch.add_column(sa.Column("upload_hash", sa.String(length=66), nullable=True))
        batch.create_index(batch.f("ix_trips_upload_hash"), ["upload_hash"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("trips") as batch:
        batch.drop_index(batch.f("ix_trips_upload_hash"))
        batch.drop_column("upload_hash")
        batch.drop_column("signature")
    op.drop_index(op.f("ix_uploads_vehicle_id"), table_name="uploads")
    op.drop_table("uploads")
