"""tasks: catalogue metadata, deactivation, completion sequence numbers

Revision ID: 0002
Revises: 0001

Adds to ``tasks`` a description, the kind of evidence the app sends, created/updated times and
``deactivated_at``; to ``completions`` a per-(task, account) sequence number under a unique constraint
(so that racing completions collide in the database) and the time each was recorded. Existing rows are
backfilled, so the migration is safe on a populated database.

``tasks`` is altered in place (ADD/DROP COLUMN) rather than through a batch copy: SQLite runs with foreign
keys on, and ``completions`` references ``tasks``, so dropping the old copy of ``tasks`` would fail. That
is why its new NOT NULL columns keep server defaults (the model declares the same ones).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SEQ_CONSTRAINT = "uq_completions_task_account_seq"


def upgrade() -> None:
    op.add_column("tasks", sa.Column("description", sa.Text(), nullable=False, server_default=""))
    op.add_column(
        "tasks", sa.Column("evidence_kind", sa.String(length=32), nullable=False, server_default="reference")
    )
    op.add_column("tasks", sa.Column("created_at", sa.BigInteger(), nullable=False, server_default="0"))
    op.add_column("tasks", sa.Column("updated_at", sa.BigInteger(), nullable=False, server_default="0"))
    op.add_column("tasks", sa.Column("deactivated_at", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("completions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("recorded_at", sa.BigInteger(), nullable=True))

    # The best history there is for rows written before these columns existed.
    op.execute("UPDATE tasks SET created_at = active_from, updated_at = active_from")
    op.execute(
        "UPDATE completions SET recorded_at = completed_at, seq = ("
        " SELECT count(*) FROM completions AS earlier"
        " WHERE earlier.task_id = completions.task_id AND earlier.account = completions.account"
        " AND earlier.id <= completions.id)"
    )

    with op.batch_alter_table("completions", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("recorded_at", existing_type=sa.BigInteger(), nullable=False)
        batch_op.create_unique_constraint(SEQ_CONSTRAINT, ["task_id", "account", "seq"])


def downgrade() -> None:
    with op.batch_alter_table("completions", schema=None) as batch_op:
        batch_op.drop_constraint(SEQ_CONSTRAINT, type_="unique")
        batch_op.drop_column("recorded_at")
        batch_op.drop_column("seq")
    for column in ("deactivated_at", "updated_at", "created_at", "evidence_kind", "description"):
        op.drop_column("tasks", column)
