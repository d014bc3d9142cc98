"""model versions carry JSON read copies: their summary and their immutable details

Why: reading a version took six indexed queries (row, tags, aliases, lineage inputs,
dataset names, parent) and a page of versions three, and SQLAlchemy's per-statement cost,
not SQLite's, dominated both (1.2 ms per lookup, of which 0.07 ms in sqlite3). Each
version now stores `summary` (rewritten from the tables on every change) and `document`
(its immutable details except the environment, written at registration), so a lookup or a
page is one query and one parse. The tables stay the truth; this migration fills both
columns for existing versions from them, with the shapes of this revision.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 21:40:00.000000
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json(value: Any) -> Any:
    """Columns of type JSON come back as text from SQLite's driver in a plain select."""
    return json.loads(value) if isinstance(value, str) else value


def _timestamp(value: Any) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    stamp: datetime = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    return stamp.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _documents(bind: sa.Connection) -> dict[int, tuple[str, str]]:
    rows = bind.execute(
        sa.text(
            "SELECT v.id, m.name, v.version, v.stage, v.flavor, v.framework, v.description,"
            " v.manifest, v.manifest_digest, v.input_schema, v.output_schema, v.params,"
            " v.metrics, v.code, v.parent_id, v.run_id, v.author, v.created_at, v.revision"
            " FROM model_versions v JOIN models m ON m.id = v.model_id"
        )
    ).all()
    refs = {row.id: {"model": row.name, "version": row.version} for row in rows}
    tags: dict[int, dict[str, str]] = {}
    for entity_id, key, value in bind.execute(
        sa.text("SELECT entity_id, key, value FROM tags WHERE entity_kind = 'model_version'")
    ):
        tags.setdefault(entity_id, {})[key] = value
    aliases: dict[int, list[str]] = {}
    for version_id, alias in bind.execute(sa.text("SELECT version_id, alias FROM model_aliases")):
        aliases.setdefault(version_id, []).append(alias)
    datasets = {
        row.id: {"dataset": row.name, "version": row.version}
        for row in bind.execute(
            sa.text(
                "SELECT dv.id, d.name, dv.version FROM dataset_versions dv"
                " JOIN datasets d ON d.id = dv.dataset_id"
            )
        )
    }
    inputs: dict[int, dict[str, list[int]]] = {}
    for source, target, relation in bind.execute(
        sa.text(
            "SELECT source, target, relation FROM lineage_edges"
            " WHERE relation IN ('trained_on', 'evaluated_on')"
        )
    ):
        # Only dataset version -> model version edges carry these relations.
        version_id = int(target.partition(":")[2])
        found = inputs.setdefault(version_id, {"trained_on": [], "evaluated_on": []})
        found[relation].append(int(source.partition(":")[2]))
    result = {}
    for row in rows:
        summary = {
            "model": row.name,
            "version": row.version,
            "stage": row.stage,
            "flavor": row.flavor,
            "manifest_digest": row.manifest_digest,
            "author": row.author,
            "run_id": row.run_id,
            "description": row.description,
            "tags": tags.get(row.id, {}),
            "aliases": sorted(aliases.get(row.id, [])),
            "created_at": _timestamp(row.created_at),
            "revision": row.revision,
        }
        edges = inputs.get(row.id, {"trained_on": [], "evaluated_on": []})
        document = {
            "framework": row.framework,
            "files": sorted(_json(row.manifest), key=lambda entry: entry["path"]),
            "input_schema": _json(row.input_schema),
            "output_schema": _json(row.output_schema),
            "params": _json(row.params),
            "metrics": _json(row.metrics),
            "code": _json(row.code),
            "training_datasets": [datasets[i] for i in sorted(edges["trained_on"])],
            "evaluation_datasets": [datasets[i] for i in sorted(edges["evaluated_on"])],
            "parent": refs.get(row.parent_id) if row.parent_id is not None else None,
        }
        result[row.id] = (json.dumps(summary), json.dumps(document))
    return result


def upgrade() -> None:
    op.add_column("model_versions", sa.Column("summary", sa.Text(), nullable=True))
    op.add_column("model_versions", sa.Column("document", sa.Text(), nullable=True))
    bind = op.get_bind()
    update = sa.text(
        "UPDATE model_versions SET summary = :summary, document = :document WHERE id = :id"
    )
    for version_id, (summary, document) in _documents(bind).items():
        bind.execute(update, {"id": version_id, "summary": summary, "document": document})
    with op.batch_alter_table("model_versions") as batch:
        batch.alter_column("summary", existing_type=sa.Text(), nullable=False)
        batch.alter_column("document", existing_type=sa.Text(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("document")
        batch.drop_column("summary")
