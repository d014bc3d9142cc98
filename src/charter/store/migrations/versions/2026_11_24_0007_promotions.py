"""evidence and promotion requests

Why: issue 5 replaces admin-only stage changes with promotion requests that a policy gate
decides, with approvals under four-eyes rules. The gate reads evidence attached to each
version (model cards, transparency notices, validation reports now; computed evidence in
a later issue), so evidence gets its own immutable table.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 00:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "evidence",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("version_id", Id, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=512), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("media_type", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("submitted_by", sa.String(length=128), nullable=False),
        sa.Column("submitter_roles", sa.JSON(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name=op.f("fk_evidence_version_id_model_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence")),
    )
    op.create_index("ix_evidence_version_kind", "evidence", ["version_id", "kind"], unique=False)
    op.create_table(
        "promotion_requests",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("version_id", Id, nullable=False),
        sa.Column("from_stage", sa.String(length=16), nullable=False),
        sa.Column("to_stage", sa.String(length=16), nullable=False),
        sa.Column("region", sa.String(length=512), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=128), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("break_glass_reason", sa.Text(), nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.Column("expires_at", When, nullable=False),
        sa.Column("closed_at", When, nullable=True),
        sa.Column("executed_by", sa.String(length=128), nullable=True),
        sa.Column("evaluation", sa.Text(), nullable=True),
        sa.Column("overridden", sa.JSON(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name=op.f("fk_promotion_requests_version_id_model_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotion_requests")),
    )
    for column in ("version_id", "status", "requested_by"):
        op.create_index(
            op.f(f"ix_promotion_requests_{column}"), "promotion_requests", [column], unique=False
        )
    op.create_table(
        "promotion_decisions",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("request_id", Id, nullable=False),
        sa.Column("principal", sa.String(length=128), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["promotion_requests.id"],
            name=op.f("fk_promotion_decisions_request_id_promotion_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotion_decisions")),
        sa.UniqueConstraint(
            "request_id", "principal", name=op.f("uq_promotion_decisions_request_id")
        ),
    )
    op.create_index(
        op.f("ix_promotion_decisions_request_id"),
        "promotion_decisions",
        ["request_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_promotion_decisions_request_id"), table_name="promotion_decisions")
    op.drop_table("promotion_decisions")
    for column in ("requested_by", "status", "version_id"):
        op.drop_index(op.f(f"ix_promotion_requests_{column}"), table_name="promotion_requests")
    op.drop_table("promotion_requests")
    op.drop_index("ix_evidence_version_kind", table_name="evidence")
    op.drop_table("evidence")
