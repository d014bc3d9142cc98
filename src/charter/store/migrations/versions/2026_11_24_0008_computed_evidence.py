"""computed evidence: dataset contents, advisories, principal keys, model card fields

Why: issue 6 makes Charter compute evidence itself. It needs the content of datasets
(uploaded as Parquet and verified against the recorded digest) to scan and evaluate on,
an offline advisory database, the public keys principals sign their versions with, and
the human-written sections of model cards. PII scans are evidence about a dataset
version, so an evidence row now names a model version or a dataset version.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 00:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("evidence") as batch:
        batch.alter_column("version_id", existing_type=Id, nullable=True)
        batch.add_column(sa.Column("dataset_version_id", Id, nullable=True))
        batch.create_foreign_key(
            op.f("fk_evidence_dataset_version_id_dataset_versions"),
            "dataset_versions",
            ["dataset_version_id"],
            ["id"],
        )
        batch.create_index(
            "ix_evidence_dataset_version_kind", ["dataset_version_id", "kind"], unique=False
        )
    op.create_table(
        "dataset_contents",
        sa.Column("dataset_version_id", Id, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("attached_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_version_id"],
            ["dataset_versions.id"],
            name=op.f("fk_dataset_contents_dataset_version_id_dataset_versions"),
        ),
        sa.PrimaryKeyConstraint("dataset_version_id", name=op.f("pk_dataset_contents")),
    )
    op.create_table(
        "advisories",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("ecosystem", sa.String(length=64), nullable=False),
        sa.Column("modified", sa.String(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("imported_by", sa.String(length=128), nullable=False),
        sa.Column("imported_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_advisories")),
    )
    op.create_index(op.f("ix_advisories_ecosystem"), "advisories", ["ecosystem"], unique=False)
    op.create_table(
        "principal_keys",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("principal", sa.String(length=128), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.String(length=128), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("revoked_at", When, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_principal_keys")),
        sa.UniqueConstraint("key_id", name=op.f("uq_principal_keys_key_id")),
    )
    op.create_index(
        op.f("ix_principal_keys_principal"), "principal_keys", ["principal"], unique=False
    )
    op.create_table(
        "model_card_fields",
        sa.Column("version_id", Id, nullable=False),
        sa.Column("section", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name=op.f("fk_model_card_fields_version_id_model_versions"),
        ),
        sa.PrimaryKeyConstraint("version_id", "section", name=op.f("pk_model_card_fields")),
    )


def downgrade() -> None:
    kept = op.get_bind().execute(sa.text("SELECT count(*) FROM evidence WHERE version_id IS NULL"))
    if kept.scalar():
        # Evidence is never deleted; a downgrade that would have to is refused.
        raise RuntimeError("evidence about dataset versions exists; 0007 cannot hold it")
    op.drop_table("model_card_fields")
    op.drop_index(op.f("ix_principal_keys_principal"), table_name="principal_keys")
    op.drop_table("principal_keys")
    op.drop_index(op.f("ix_advisories_ecosystem"), table_name="advisories")
    op.drop_table("advisories")
    op.drop_table("dataset_contents")
    with op.batch_alter_table("evidence") as batch:
        batch.drop_index("ix_evidence_dataset_version_kind")
        batch.drop_constraint(
            op.f("fk_evidence_dataset_version_id_dataset_versions"), type_="foreignkey"
        )
        batch.drop_column("dataset_version_id")
        batch.alter_column("version_id", existing_type=Id, nullable=False)
