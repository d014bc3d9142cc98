"""The audit log: events, signed checkpoints, keys, Merkle proofs and bundle export."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from charter.api.deps import Context, require
from charter.api.params import Cursor, Limit, NameQuery, ShortQuery
from charter.api.routing import CharterRoute
from charter.audit import bundle, ledger
from charter.domain import audit as schemas
from charter.domain.common import Page
from charter.domain.enums import Action
from charter.domain.errors import Conflict
from charter.domain.identity import Actor

router = APIRouter(tags=["audit"], route_class=CharterRoute)
Reader = Annotated[Actor, Depends(require(Action.AUDIT_READ))]
Signer = Annotated[Actor, Depends(require(Action.AUDIT_CHECKPOINT))]
Seq = Annotated[int, Query(ge=1, le=2**62, description="sequence number of an event")]
Size = Annotated[int | None, Query(ge=1, le=2**62, description="tree size; default: now")]


@router.get("/audit/events", summary="Query events by actor, action, subject and time")
def list_events(
    context: Context,
    actor: Reader,
    cursor: Cursor = None,
    limit: Limit = 100,
    principal: Annotated[NameQuery, Query(alias="actor")] = None,
    action: Annotated[ShortQuery, Query(description="exact, or a prefix ending in '*'")] = None,
    subject: Annotated[ShortQuery, Query(description="exact, or a prefix ending in '*'")] = None,
    since: Annotated[datetime | None, Query(description="at or after (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="before (ISO 8601)")] = None,
) -> Page[schemas.AuditEvent]:
    return ledger.list_events(
        context.db,
        actor=principal,
        action=action,
        subject=subject,
        since=since,
        until=until,
        cursor=cursor,
        limit=limit,
    )


@router.get("/audit/events/{seq}", summary="One event with its entry and leaf hash")
def get_event(
    context: Context, actor: Reader, seq: Annotated[int, PathParam(ge=1, le=2**62)]
) -> schemas.AuditEvent:
    return ledger.get_event(context.db, seq)


@router.get("/audit/checkpoints", summary="Signed checkpoints, oldest first")
def list_checkpoints(
    context: Context, actor: Reader, cursor: Cursor = None, limit: Limit = 100
) -> Page[schemas.AuditCheckpoint]:
    return ledger.list_checkpoints(context.db, cursor, limit)


@router.get("/audit/checkpoints/latest", summary="The newest signed checkpoint, to keep")
def latest_checkpoint(context: Context, actor: Reader) -> schemas.AuditCheckpoint:
    return ledger.latest_checkpoint(context.db)


@router.post("/audit/checkpoints", summary="Sign a checkpoint of the log as it is now")
def take_checkpoint(context: Context, actor: Signer) -> schemas.AuditCheckpoint:
    if context.signer is None:
        raise Conflict(
            f"this server has no audit signing key ({context.settings.resolved_audit_key} "
            "does not exist); run 'charter init' or set CHARTER_AUDIT_KEY, then restart"
        )
    return ledger.take_checkpoint(context.db, context.signer)


@router.get("/audit/keys", summary="Keys that sign this log's checkpoints")
def list_keys(context: Context, actor: Reader) -> list[schemas.AuditKey]:
    return ledger.list_keys(context.db)


@router.get("/audit/proofs/inclusion", summary="RFC 9162 inclusion proof of one event")
def inclusion_proof(
    context: Context, actor: Reader, seq: Seq, tree_size: Size = None
) -> schemas.InclusionProof:
    return ledger.inclusion_proof(context.db, seq, tree_size)


@router.get("/audit/proofs/consistency", summary="RFC 9162 consistency proof of two sizes")
def consistency_proof(
    context: Context,
    actor: Reader,
    old_size: Annotated[int, Query(ge=1, le=2**62)],
    new_size: Size = None,
) -> schemas.ConsistencyProof:
    return ledger.consistency_proof(context.db, old_size, new_size)


@router.get(
    "/audit/export",
    summary="The whole log as a verifiable bundle (zip)",
    response_class=FileResponse,
)
def export(context: Context, actor: Reader) -> FileResponse:
    spool = context.settings.home / "tmp"
    spool.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix="audit-", suffix=".zip", dir=spool)
    os.close(handle)
    path = Path(name)
    path.unlink()  # export_bundle creates the file itself and refuses to overwrite
    try:
        head = bundle.export_bundle(context.db, path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"charter-audit-{head['size']}.zip",
        background=BackgroundTask(path.unlink, missing_ok=True),
    )
