"""Reading promotion requests: one by id, pages of them, and their API form."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from charter.domain.common import Page
from charter.domain.enums import Stage
from charter.domain.errors import NotFound
from charter.domain.gates import (
    GateEvaluation,
    Promotion,
    PromotionDecision,
    PromotionStatus,
    Verdict,
)
from charter.store import tables as t
from charter.store.engine import Database
from charter.store.pagination import check_limit, decode_cursor, encode_cursor
from charter.store.tables import utcnow

PromotionPage = Page[Promotion]


def find(session: Session, request_id: int, *, lock: bool = False) -> t.PromotionRequest:
    row = session.get(t.PromotionRequest, request_id, with_for_update=lock or None)
    if row is None:
        raise NotFound(f"no promotion request {request_id}; list them with GET /api/v1/promotions")
    return row


def _status(row: t.PromotionRequest) -> PromotionStatus:
    # An open request past its time is expired even before anything touched it.
    if row.status == PromotionStatus.OPEN.value and row.expires_at <= utcnow():
        return PromotionStatus.EXPIRED
    return PromotionStatus(row.status)


def to_schema(session: Session, row: t.PromotionRequest, model: str, version: int) -> Promotion:
    session.flush()
    decisions = session.execute(
        select(t.PromotionDecision)
        .where(t.PromotionDecision.request_id == row.id)
        .order_by(t.PromotionDecision.id)
    ).scalars()
    return Promotion(
        id=row.id,
        model=model,
        version=version,
        from_stage=Stage(row.from_stage),
        to_stage=Stage(row.to_stage),
        region=row.region,
        status=_status(row),
        requested_by=row.requested_by,
        comment=row.comment,
        break_glass_reason=row.break_glass_reason,
        created_at=row.created_at,
        expires_at=row.expires_at,
        closed_at=row.closed_at,
        executed_by=row.executed_by,
        decisions=[
            PromotionDecision(
                principal=d.principal,
                verdict=Verdict(d.verdict),
                roles=list(d.roles),
                comment=d.comment,
                at=d.at,
            )
            for d in decisions
        ],
        gate=GateEvaluation.model_validate_json(row.evaluation) if row.evaluation else None,
        overridden=list(row.overridden),
        revision=row.revision,
    )


def get_request(db: Database, request_id: int) -> Promotion:
    with db.reading() as session:
        row = find(session, request_id)
        mv = session.get(t.ModelVersion, row.version_id)
        assert mv is not None  # a foreign key guarantees it
        model = session.execute(select(t.Model.name).where(t.Model.id == mv.model_id)).scalar_one()
        return to_schema(session, row, model, mv.version)


def list_requests(
    db: Database,
    *,
    cursor: str | None = None,
    limit: int = 100,
    status: PromotionStatus | None = None,
    model: str | None = None,
    requested_by: str | None = None,
) -> PromotionPage:
    """Requests in the order they were opened. `status` filters on the stored status,
    except that 'open' leaves out, and 'expired' takes in, open requests past their time."""
    after, limit = decode_cursor(cursor), check_limit(limit)
    query = (
        select(t.PromotionRequest, t.Model.name, t.ModelVersion.version)
        .join(t.ModelVersion, t.ModelVersion.id == t.PromotionRequest.version_id)
        .join(t.Model, t.Model.id == t.ModelVersion.model_id)
        .where(t.PromotionRequest.id > after)
    )
    now = utcnow()
    if status == PromotionStatus.OPEN:
        query = query.where(
            t.PromotionRequest.status == status.value, t.PromotionRequest.expires_at > now
        )
    elif status == PromotionStatus.EXPIRED:
        query = query.where(
            (t.PromotionRequest.status == status.value)
            | (
                (t.PromotionRequest.status == PromotionStatus.OPEN.value)
                & (t.PromotionRequest.expires_at <= now)
            )
        )
    elif status is not None:
        query = query.where(t.PromotionRequest.status == status.value)
    if model is not None:
        query = query.where(t.Model.name == model)
    if requested_by is not None:
        query = query.where(t.PromotionRequest.requested_by == requested_by)
    with db.reading() as session:
        rows = session.execute(query.order_by(t.PromotionRequest.id).limit(limit + 1)).all()
        items = [to_schema(session, r, name, v) for r, name, v in rows[:limit]]
    nxt = encode_cursor(rows[limit - 1][0].id) if len(rows) > limit else None
    return PromotionPage(items=items, next_cursor=nxt)
