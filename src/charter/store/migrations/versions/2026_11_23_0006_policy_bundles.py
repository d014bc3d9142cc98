"""policy bundles

Why: issue 5 puts a Cedar policy bundle in charge of every access decision. Pushed bundles
are kept as numbered versions (files as JSON, digest, who pushed it and why); the newest
is in force, and version 0 is the default bundle shipped with Charter.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 22:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "policy_bundles",
        sa.Column(
            "version",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("pushed_by", sa.String(length=128), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_policy_bundles")),
    )
    op.create_index(op.f("ix_policy_bundles_digest"), "policy_bundles", ["digest"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_policy_bundles_digest"), table_name="policy_bundles")
    op.drop_table("policy_bundles")
