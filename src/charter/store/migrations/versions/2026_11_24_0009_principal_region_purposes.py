"""principal region and purposes

Why: issue 5's policies refine access by the principal's region and the purposes it may
call models for (GDPR purpose limitation), not only by role and business unit.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 01:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("principals") as batch:
        batch.add_column(sa.Column("region", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("purposes", sa.JSON(), nullable=True))
    op.execute("UPDATE principals SET purposes = '[]'")
    with op.batch_alter_table("principals") as batch:
        batch.alter_column("purposes", existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("principals") as batch:
        batch.drop_column("purposes")
        batch.drop_column("region")
