"""tags as a WITHOUT ROWID table on SQLite

Why: with a rowid table SQLite (lacking statistics) answered "the tags of these entities"
by scanning the covering ix_tags_lookup index over every entity of a kind (27,000 rows at
10,000 versions, 7 ms per lookup) instead of seeking the primary key. Clustering the table
on its primary key (entity_kind, entity_id, key) makes that read a covering seek and the
per-entity tag probes of filtered searches cheap. PostgreSQL keeps its heap table and
plans with statistics, so nothing changes there.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 19:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = "entity_kind, entity_id, key, value"


def _rebuild_tags(with_rowid: bool) -> None:
    op.create_table(
        "_tags_rebuild",
        sa.Column("entity_kind", sa.String(length=16), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("value", sa.String(length=512), nullable=False),
        sa.PrimaryKeyConstraint("entity_kind", "entity_id", "key", name="pk_tags"),
        sqlite_with_rowid=with_rowid,
    )
    op.execute(f"INSERT INTO _tags_rebuild ({COLUMNS}) SELECT {COLUMNS} FROM tags")  # noqa: S608
    op.drop_index("ix_tags_lookup", table_name="tags")
    op.drop_table("tags")
    op.rename_table("_tags_rebuild", "tags")
    op.create_index("ix_tags_lookup", "tags", ["entity_kind", "key", "value", "entity_id"])


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_tags(with_rowid=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_tags(with_rowid=True)
