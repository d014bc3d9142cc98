"""Refused requests are audited: each denial to a principal, anonymous floods as counts."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
from sqlalchemy import select

from charter.access import principals, tokens
from charter.api.app import create_app, keep_audit_log
from charter.audit import ledger
from charter.audit.access import SAMPLES_PER_WINDOW, UnauthenticatedSampler
from charter.audit.keys import create_signing_key
from charter.domain.enums import Role
from charter.domain.identity import SYSTEM_ACTOR, PrincipalCreate, TokenCreate
from charter.settings import Settings
from charter.store import tables as t
from charter.store.engine import Database
from tests.conftest import Admin


def events(db: Database, action: str) -> list[dict[str, object]]:
    with db.rows() as connection:
        rows = connection.execute(
            select(t.AuditEvent.entry)
            .where(t.AuditEvent.action == action)
            .order_by(t.AuditEvent.seq)
        )
        return [json.loads(r[0]) for r in rows]


def test_a_denied_principal_is_audited_with_who_and_what(
    server: str, db: Database, admin: Admin
) -> None:
    principals.create_principal(
        db, admin.actor, PrincipalCreate(name="dora", roles=[Role.DATA_SCIENTIST])
    )
    secret = tokens.issue_token(db, admin.actor, TokenCreate(name="t", principal="dora")).secret
    response = httpx.get(
        f"{server}/api/v1/audit/events",
        headers={"Authorization": f"Bearer {secret}", "User-Agent": "probe/1"},
    )
    assert response.status_code == 403
    [denied] = events(db, "access.denied")
    assert denied["subject"] == "route:GET /api/v1/audit/events"
    assert denied["actor"]["principal"] == "dora" and denied["actor"]["user_agent"] == "probe/1"
    assert denied["actor"]["request_id"] == response.headers["x-request-id"]
    assert denied["change"]["action"] == "audit:read"
    assert secret not in json.dumps(denied)


def test_an_anonymous_flood_becomes_one_counted_event(settings: Settings, db: Database) -> None:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)

    async def flood() -> None:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            for i in range(60):
                headers = {"Authorization": "Bearer chr_forged"} if i % 2 else {}
                assert (await http.get("/api/v1/models", headers=headers)).status_code == 401

    asyncio.run(flood())
    context = app.state.charter
    assert events(db, "access.unauthenticated") == []  # the window is still open
    assert context.sampler.flush(db, force=True)
    [summary] = events(db, "access.unauthenticated")
    assert summary["change"]["attempts"] == 60
    assert len(summary["change"]["samples"]) == SAMPLES_PER_WINDOW
    assert "chr_forged" not in json.dumps(summary)
    assert not context.sampler.flush(db, force=True)  # nothing new: nothing written


def test_windows_close_on_time() -> None:
    sampler = UnauthenticatedSampler(window_seconds=0.05)
    assert sampler.take() is None
    sampler.record("10.0.0.1", "GET", "/x", "no token")
    assert sampler.take() is None  # window still open
    time.sleep(0.06)
    summary = sampler.take()
    assert summary is not None and summary["attempts"] == 1
    assert sampler.take() is None


def run_keeper(app: object, seconds: float) -> None:
    async def run() -> None:
        keeper = asyncio.create_task(keep_audit_log(app.state.charter, tick=0.02))  # type: ignore[attr-defined]
        await asyncio.sleep(seconds)
        keeper.cancel()

    asyncio.run(run())


def test_checkpoints_are_signed_every_n_events_or_t_seconds(
    settings: Settings, db: Database, admin: Admin
) -> None:
    create_signing_key(settings.resolved_audit_key)
    by_count = settings.model_copy(
        update={"audit_checkpoint_events": 3, "audit_checkpoint_seconds": 3600}
    )
    app = create_app(by_count)
    ledger.register_key(db, SYSTEM_ACTOR, app.state.charter.signer)
    size = ledger.head(db).size
    run_keeper(app, 0.3)
    assert ledger.latest_checkpoint(db).size == size  # enough unsigned events: signed
    fill = [PrincipalCreate(name=f"p{i}", roles=[Role.CONSUMER]) for i in range(2)]
    for body in fill:
        principals.create_principal(db, admin.actor, body)
    run_keeper(app, 0.3)
    assert ledger.latest_checkpoint(db).size == size  # 2 of 3: not yet
    by_age = create_app(
        settings.model_copy(
            update={"audit_checkpoint_events": 1000, "audit_checkpoint_seconds": 0.1}
        )
    )
    time.sleep(0.15)
    run_keeper(by_age, 0.3)
    assert ledger.latest_checkpoint(db).size == size + 2  # old enough: signed
