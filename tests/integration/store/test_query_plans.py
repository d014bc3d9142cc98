"""Filtered searches use the tag index and read pages in id order, on both backends."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, insert, update

from charter.domain.enums import RiskTier, Stage
from charter.domain.registry import Model, ModelVersionSummary
from charter.registry import models, versions
from charter.store import tables as t
from charter.store import tags as tagstore
from charter.store.engine import Database

MODELS, PER_MODEL = 400, 10
UNITS = ["retail", "corporate", "wealth", "insurance", "markets"]
TIERS = ["high", "limited", "minimal"]
DOC = (
    '{"framework": null, "files": [], "input_schema": [], "output_schema": [], "params": {},'
    ' "metrics": {}, "code": null, "training_datasets": [], "evaluation_datasets": [],'
    ' "parent": null}'
)


@pytest.fixture
def populated(db: Database) -> Database:
    """4,000 versions with 2-3 tags each, written in bulk (the services are tested elsewhere)."""
    now = datetime.now(UTC)
    model_rows = [
        {
            "id": m + 1,
            "name": f"model-{m:04d}",
            "description": "",
            "risk_tier": TIERS[m % 3],
            "business_unit": UNITS[m % 5],
            "intended_use": "",
            "approved_regions": [],
            "created_by": "bench",
            "created_at": now,
            "updated_at": now,
            "latest_version": PER_MODEL,
            "revision": 1,
            "document": Model(
                name=f"model-{m:04d}",
                description="",
                risk_tier=RiskTier(TIERS[m % 3]),
                business_owner=None,
                technical_owner=None,
                business_unit=UNITS[m % 5],
                intended_use="",
                approved_regions=[],
                tags={},
                created_by="bench",
                created_at=now,
                updated_at=now,
                revision=1,
                latest_version=PER_MODEL,
            ).model_dump_json(),
        }
        for m in range(MODELS)
    ]
    version_rows: list[dict[str, Any]] = []
    tag_rows: list[dict[str, Any]] = []
    for v in range(PER_MODEL):
        for m in range(MODELS):
            vid = len(version_rows) + 1
            tags = {"bu": UNITS[m % 5], "risk": TIERS[m % 3]}
            if v % 2:
                tags["team"] = f"t{m % 7}"
            summary = ModelVersionSummary(
                model=f"model-{m:04d}",
                version=v + 1,
                stage=Stage.NONE,
                flavor="skops",
                manifest_digest="0" * 64,
                author="bench",
                run_id=None,
                description="",
                tags=tags,
                created_at=now,
                revision=1,
            )
            version_rows.append(
                {
                    "id": vid,
                    "model_id": m + 1,
                    "version": v + 1,
                    "stage": "none",
                    "flavor": "skops",
                    "description": "",
                    "manifest": [],
                    "manifest_digest": "0" * 64,
                    "input_schema": [],
                    "output_schema": [],
                    "params": {},
                    "metrics": {},
                    "author": "bench",
                    "created_at": now,
                    "revision": 1,
                    "summary": summary.model_dump_json(),
                    "document": "{}",
                }
            )
            tag_rows += [
                {"entity_kind": "model_version", "entity_id": vid, "key": k, "value": val}
                for k, val in tags.items()
            ]
    with db.transaction() as session:
        session.execute(insert(t.Model), model_rows)
        session.execute(insert(t.ModelVersion), version_rows)
        session.execute(insert(t.Tag), tag_rows)
    if not db.is_sqlite:
        with db.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
    return db


def plan_of(
    db: Database, call: Callable[[], object], table: str, *, forbid_seqscan: bool = False
) -> str:
    """The plan of the first statement `call` runs against `table`."""
    captured: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if f"FROM {table}" in statement and not captured:
            captured.append((statement, params))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    statement, params = captured[0]
    prefix = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN "
    with db.engine.connect() as connection:
        if forbid_seqscan and not db.is_sqlite:
            connection.exec_driver_sql("SET enable_seqscan = off")
        rows = connection.exec_driver_sql(prefix + statement, params).all()
    return "\n".join(str(row[-1]) for row in rows)


def test_two_tag_search_walks_the_tag_index(populated: Database) -> None:
    db = populated
    search = lambda: versions.list_versions(db, tags=["bu:retail", "risk:high"], limit=100)  # noqa: E731
    page = versions.list_versions(db, tags=["bu:retail", "risk:high"], limit=100)
    assert len(page.items) == 100 and page.next_cursor is not None
    assert all(v.tags["bu"] == "retail" and v.tags["risk"] == "high" for v in page.items)
    plan = plan_of(db, search, "model_versions")
    assert "ix_tags_lookup" in plan, plan
    if db.is_sqlite:
        assert "SCAN" not in plan and "TEMP B-TREE" not in plan, plan
    else:
        # PostgreSQL may sort the matches of the two index ranges rather than walk in id
        # order; either way it reads only matching tag entries, never the whole tables.
        assert "Seq Scan" not in plan, plan
    nxt = versions.list_versions(db, tags=["bu:retail", "risk:high"], cursor=page.next_cursor)
    assert page.items[-1].created_at <= nxt.items[0].created_at
    assert {(v.model, v.version) for v in page.items}.isdisjoint(
        {(v.model, v.version) for v in nxt.items}
    )


def test_a_page_of_versions_or_one_version_is_one_statement(
    populated: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = populated
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if not statement.startswith(("BEGIN", "COMMIT", "ROLLBACK", "select pg_", "SELECT 1")):
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        page = versions.list_versions(db, tags=["bu:retail", "risk:high"], limit=100)
        assert len(page.items) == 100
        assert len(statements) == 1, statements
        statements.clear()
        with db.transaction() as session:
            session.execute(
                update(t.ModelVersion).where(t.ModelVersion.id == 1).values(document=DOC)
            )
        statements.clear()
        # The point lookup runs on the driver's cursor (Database.point_read: store/driver.py
        # on SQLite, store/thread_reads.py on PostgreSQL): one statement there, none
        # through SQLAlchemy's cursor events.
        looked_up: list[str] = []
        point_read = Database.point_read

        def counting(self: Database, statement: Any, params: dict[str, Any]) -> Any:
            looked_up.append(str(statement))
            return point_read(self, statement, params)

        monkeypatch.setattr(Database, "point_read", counting)
        assert versions.get_version(db, "model-0000", 1).files == []
        assert statements == [] and len(looked_up) == 1, (statements, looked_up)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def test_reading_tags_of_a_page_seeks_the_primary_key(populated: Database) -> None:
    db = populated
    # On a table this small PostgreSQL rightly prefers a sequential scan; what matters is
    # that the primary key can serve the read once the table is large.
    with db.transaction() as session:
        session.execute(
            insert(t.Tag),
            [
                {"entity_kind": "model", "entity_id": m, "key": k, "value": UNITS[m % 5]}
                for m in range(1, MODELS + 1)
                for k in ("bu", "owner")
            ],
        )
    if not db.is_sqlite:
        with db.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE tags")
            connection.commit()

    # Dataset and run pages still read their tags this way (models and versions keep
    # documents); what matters is that the read seeks the primary key.
    def read_tags() -> None:
        with db.rows() as connection:
            tagstore.load(connection, "model", range(1, 101))

    plan = plan_of(db, read_tags, "tags", forbid_seqscan=True)
    assert "ix_tags_lookup" not in plan, plan
    if db.is_sqlite:
        assert "PRIMARY KEY" in plan, plan
    else:
        assert "pk_tags" in plan, plan


def test_model_tag_search_uses_the_tag_index(populated: Database) -> None:
    db = populated
    with db.transaction() as session:
        session.execute(
            insert(t.Tag),
            [
                {"entity_kind": "model", "entity_id": m, "key": "bu", "value": UNITS[m % 5]}
                for m in range(1, MODELS + 1)
            ],
        )
    plan = plan_of(db, lambda: models.list_models(db, tags=["bu:wealth"]), "models")
    assert "ix_tags_lookup" in plan, plan
    names = [m.name for m in models.list_models(db, tags=["bu:wealth"], limit=5).items]
    # ids 2, 7, 12, ... carry UNITS[2] == "wealth"; model ids are one more than the name's number
    assert names == [f"model-{m:04d}" for m in (1, 6, 11, 16, 21)]
