"""api: operator tokens, idempotency keys, equity record-date snapshots, catalogue metadata

Revision ID: 0004
Revises: 0003

New tables only; nothing existing changes, so the migration is safe on a populated database.

* ``api_tokens``: operator bearer tokens, stored as their SHA-256 with their scopes.
* ``idempotency_keys``: the stored answer of each request sent with an ``Idempotency-Key``.
* ``equity_snapshots`` / ``equity_balances``: each equity round's record-date balance tree and its leaves.
* ``catalogue_items``: the words behind each redemption item's on-chain ``metadataHash``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key"),
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_idempotency_keys_created_at"), ["created_at"], unique=False)
    op.create_table(
        "equity_snapshots",
        sa.Column("round_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("record_date", sa.BigInteger(), nullable=False),
        sa.Column("block", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.String(length=66), nullable=False),
        sa.Column("total_eligible", sa.String(length=78), nullable=False),
        sa.Column("holders", sa.Integer(), nullable=False),
        sa.Column("nodes", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("round_id"),
    )
    op.create_table(
        "equity_balances",
        sa.Column("round_id", sa.BigInteger(), nullable=False),
        sa.Column("account", sa.String(length=42), nullable=False),
        sa.Column("balance", sa.String(length=78), nullable=False),
        sa.Column("tree_index", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["round_id"], ["equity_snapshots.round_id"]),
        sa.PrimaryKeyConstraint("round_id", "account"),
    )
    op.create_table(
        "catalogue_items",
        sa.Column("item_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("metadata_hash", sa.String(length=66), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("item_id"),
    )


def downgrade() -> None:
    op.drop_table("catalogue_items")
    op.drop_table("equity_balances")
    op.drop_table("equity_snapshots")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_created_at"))
    op.drop_table("idempotency_keys")
    op.drop_table("api_tokens")
