"""Promotion requests: dry runs, opening, approvals, rejections, re-evaluation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from charter.api.deps import Context, require
from charter.api.params import Cursor, IdPath, Limit, NameQuery
from charter.api.routing import CharterRoute
from charter.domain.enums import Action
from charter.domain.gates import (
    GateEvaluation,
    Promotion,
    PromotionCreate,
    PromotionDecide,
    PromotionReject,
    PromotionStatus,
    Verdict,
)
from charter.domain.identity import Actor
from charter.gates import promotions, records

router = APIRouter(tags=["promotions"], route_class=CharterRoute)
Reader = Annotated[Actor, Depends(require(Action.REGISTRY_READ))]
Requester = Annotated[Actor, Depends(require(Action.PROMOTION_REQUEST))]
# Approving and rejecting are decided on the request itself (a model's business owner may
# sign off whatever their role), so the route admits any reader and the service asks the
# policy bundle with the promotion's facts.
Decider = Reader


@router.post("/promotions/dry-run", summary="What would block this promotion? Opens nothing")
def dry_run(context: Context, body: PromotionCreate, actor: Requester) -> GateEvaluation:
    return promotions.dry_run(context.db, context.gate, actor, body)


@router.post(
    "/promotions",
    status_code=201,
    summary="Open a promotion request; it executes at once if the gate passes",
)
def open_request(context: Context, body: PromotionCreate, actor: Requester) -> Promotion:
    return promotions.open_request(context.db, context.gate, actor, body)


@router.get("/promotions", summary="Promotion requests, oldest first")
def list_requests(
    context: Context,
    actor: Reader,
    cursor: Cursor = None,
    limit: Limit = 100,
    status: PromotionStatus | None = None,
    model: NameQuery = None,
    requested_by: NameQuery = None,
) -> records.PromotionPage:
    return records.list_requests(
        context.db,
        cursor=cursor,
        limit=limit,
        status=status,
        model=model,
        requested_by=requested_by,
    )


@router.get("/promotions/{request_id}", summary="One promotion request with its gate")
def get_request(context: Context, request_id: IdPath, actor: Reader) -> Promotion:
    return records.get_request(context.db, request_id)


@router.post("/promotions/{request_id}/approve", summary="Approve (or sign off) a request")
def approve(
    context: Context, request_id: IdPath, body: PromotionDecide, actor: Decider
) -> Promotion:
    return promotions.decide(
        context.db, context.gate, actor, request_id, Verdict.APPROVE, body.comment
    )


@router.post("/promotions/{request_id}/reject", summary="Reject a request (closes it)")
def reject(
    context: Context, request_id: IdPath, body: PromotionReject, actor: Decider
) -> Promotion:
    return promotions.decide(
        context.db, context.gate, actor, request_id, Verdict.REJECT, body.comment
    )


@router.post(
    "/promotions/{request_id}/evaluate",
    summary="Re-evaluate an open request now; it executes if the gate passes",
)
def evaluate(context: Context, request_id: IdPath, actor: Requester) -> Promotion:
    return promotions.evaluate(context.db, context.gate, actor, request_id)


@router.post("/promotions/{request_id}/withdraw", summary="Withdraw an open request")
def withdraw(
    context: Context, request_id: IdPath, body: PromotionDecide, actor: Requester
) -> Promotion:
    return promotions.withdraw(context.db, actor, request_id, body.comment)
