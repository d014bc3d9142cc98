"""models carry a JSON read copy of themselves

Why: a page of models took three queries (rows, tags, aliases) and SQLAlchemy's per-row
work; the name-prefix search missed its target against MLflow (9.6x over HTTP on SQLite,
5x on PostgreSQL). Each model now stores `document`, the model as the API shows it,
rewritten from the tables by every service that changes the model, its tags, its latest
version or its aliases, so a lookup or a page is one query and one parse. The tables stay
the truth; this migration fills the column for existing models from them, with the
shape of this revision.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 22:40:00.000000
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(value: Any) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    stamp: datetime = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    return stamp.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _fill(bind: sa.Connection) -> None:
    tags: dict[int, dict[str, str]] = {}
    for entity_id, key, value in bind.execute(
        sa.text("SELECT entity_id, key, value FROM tags WHERE entity_kind = 'model'")
    ):
        tags.setdefault(entity_id, {})[key] = value
    aliases: dict[int, dict[str, int]] = {}
    for model_id, alias, version in bind.execute(
        sa.text(
            "SELECT a.model_id, a.alias, v.version FROM model_aliases a"
            " JOIN model_versions v ON v.id = a.version_id"
        )
    ):
        aliases.setdefault(model_id, {})[alias] = version
    update = sa.text("UPDATE models SET document = :document WHERE id = :id")
    for row in bind.execute(sa.text("SELECT * FROM models")).mappings().all():
        regions = row["approved_regions"]
        document = {
            "name": row["name"],
            "description": row["description"],
            "risk_tier": row["risk_tier"],
            "business_owner": row["business_owner"],
            "technical_owner": row["technical_owner"],
            "business_unit": row["business_unit"],
            "intended_use": row["intended_use"],
            "approved_regions": json.loads(regions) if isinstance(regions, str) else regions,
            "tags": tags.get(row["id"], {}),
            "created_by": row["created_by"],
            "created_at": _timestamp(row["created_at"]),
            "updated_at": _timestamp(row["updated_at"]),
            "revision": row["revision"],
            "latest_version": row["latest_version"] or None,
            "aliases": aliases.get(row["id"], {}),
        }
        bind.execute(update, {"id": row["id"], "document": json.dumps(document)})


def upgrade() -> None:
    op.add_column("models", sa.Column("document", sa.Text(), nullable=True))
    _fill(op.get_bind())
    with op.batch_alter_table("models") as batch:
        batch.alter_column("document", existing_type=sa.Text(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.drop_column("document")
