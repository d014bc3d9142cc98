"""Promotion requests: open, approve, reject, re-evaluate, execute; four-eyes enforced.

A request's gate is evaluated on every change to it (opening, each approval, new evidence,
an explicit re-evaluation), always on the facts as they are in that transaction, and the
version enters the stage in the same transaction as the evaluation that passed.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from charter.audit import log as audit
from charter.audit.access import record_denial
from charter.domain.enums import Action, Role, Stage
from charter.domain.errors import Conflict, PermissionDenied
from charter.domain.gates import (
    GateEvaluation,
    GateFacts,
    GateOutcome,
    Promotion,
    PromotionCreate,
    PromotionStatus,
    Verdict,
)
from charter.domain.identity import Actor
from charter.gates import records
from charter.gates.engine import Gate
from charter.gates.facts import Approval, Ask, approvals, authors, derive
from charter.gates.verdict import render
from charter.policy.access import authorize
from charter.policy.entities import promotion_resource, version_resource
from charter.registry import models, versions
from charter.registry.common import find_model, find_version, lock_models
from charter.store import tables as t
from charter.store.engine import Database
from charter.store.tables import utcnow

OPEN = PromotionStatus.OPEN.value
Known = dict[GateFacts, GateOutcome]


def _ask(row: t.PromotionRequest) -> Ask:
    return Ask(row.to_stage, row.region, row.requested_by, row.break_glass_reason is not None)


def _evaluate(
    db: Database,
    session: Session,
    gate: Gate,
    m: t.Model,
    mv: t.ModelVersion,
    ask: Ask,
    decisions: list[Approval],
    known: Known,
) -> tuple[GateFacts, GateOutcome]:
    """The gate's verdict on the facts as they are in `session`. `known` holds verdicts
    reached before the transaction began (so a remote engine is not called while the
    database is locked); facts that changed since are evaluated again."""
    facts = derive(session, m, mv, ask, gate.data(db), decisions)
    outcome = known.get(facts)
    return facts, outcome if outcome is not None else gate.evaluate(db, facts)


def _preview(
    db: Database, gate: Gate, model: str, version: int, ask: Ask, extra: list[Approval]
) -> tuple[Known, t.Model, t.ModelVersion, GateFacts]:
    """Read the facts and decide them outside any write transaction."""
    with db.reading() as session:
        m, mv = find_version(session, model, version)
        facts = derive(session, m, mv, ask, gate.data(db), extra)
        session.expunge_all()
    return {facts: gate.evaluate(db, facts)}, m, mv, facts


def _check_target(m: t.Model, mv: t.ModelVersion, to: Stage) -> None:
    if mv.stage == to.value:
        raise Conflict(f"{m.name}@{mv.version} is already in stage '{to.value}'")


def _store(row: t.PromotionRequest, evaluation: GateEvaluation) -> None:
    row.evaluation = evaluation.model_dump_json()
    row.revision += 1


def _gate_note(evaluation: GateEvaluation) -> dict[str, object]:
    return {
        "allowed": evaluation.allowed,
        "blocking": evaluation.blocking,
        "engine": evaluation.engine,
    }


def _execute(
    session: Session,
    actor: Actor,
    m: t.Model,
    mv: t.ModelVersion,
    row: t.PromotionRequest,
    overridden: list[str],
) -> None:
    now = utcnow()
    subject = f"promotion:{row.id}"
    if mv.stage == row.to_stage:
        # Another request got the version there first; this one has nothing left to do.
        row.status, row.closed_at = PromotionStatus.WITHDRAWN.value, now
        audit.append(session, actor, "promotion.withdraw", subject, {"why": "already in stage"})
        return
    row.status, row.closed_at = PromotionStatus.EXECUTED.value, now
    row.executed_by, row.overridden = actor.name, overridden
    session.flush()  # the version's documents read this row's break-glass note
    comment = f"promotion #{row.id}" + (" (break-glass override)" if overridden else "")
    versions.enter_stage(session, actor, m, mv, Stage(row.to_stage), comment)
    audit.append(
        session,
        actor,
        "promotion.execute",
        subject,
        {
            "model": m.name,
            "version": mv.version,
            "to": row.to_stage,
            "overridden": overridden,
            "break_glass_reason": row.break_glass_reason if overridden else None,
        },
    )
    if overridden:
        audit.append(
            session,
            actor,
            "promotion.break_glass",
            subject,
            {
                "model": m.name,
                "version": mv.version,
                "to": row.to_stage,
                "reason": row.break_glass_reason,
                "requested_by": row.requested_by,
                "confirmed_by": actor.name,
                "overridden": overridden,
            },
        )


def dry_run(db: Database, gate: Gate, actor: Actor, body: PromotionCreate) -> GateEvaluation:
    """What would block this promotion? Opens nothing, changes nothing."""
    _authorize_request(db, actor, body)
    ask = Ask(body.to.value, body.region, actor.name, body.break_glass_reason is not None)
    known, m, mv, facts = _preview(db, gate, body.model, body.version, ask, [])
    _check_target(m, mv, body.to)
    return render(facts, known[facts], utcnow())


def _authorize_request(db: Database, actor: Actor, body: PromotionCreate) -> None:
    with db.reading() as session:
        m, mv = find_version(session, body.model, body.version)
        target = version_resource(models.resource_of(m), mv.version, mv.author, mv.stage)
    subject = f"model:{body.model}@{body.version}"
    authorize(db, actor, Action.PROMOTION_REQUEST, target, subject=subject)
    if body.break_glass_reason is not None:
        authorize(db, actor, Action.PROMOTION_OVERRIDE, subject=subject)


def open_request(db: Database, gate: Gate, actor: Actor, body: PromotionCreate) -> Promotion:
    """Open a request; when the gate passes at once, the version enters the stage now."""
    _authorize_request(db, actor, body)
    ask = Ask(body.to.value, body.region, actor.name, body.break_glass_reason is not None)
    known = _preview(db, gate, body.model, body.version, ask, [])[0]
    _expire_due(db)
    with db.transaction() as session:
        find_model(session, body.model, lock=True)  # one open request per version and stage
        m, mv = find_version(session, body.model, body.version)
        _check_target(m, mv, body.to)
        clash = session.execute(
            select(t.PromotionRequest.id).where(
                t.PromotionRequest.version_id == mv.id,
                t.PromotionRequest.to_stage == body.to.value,
                t.PromotionRequest.status == OPEN,
            )
        ).scalar()
        if clash is not None:
            raise Conflict(
                f"promotion request {clash} for {m.name}@{mv.version} -> {body.to.value} is "
                f"still open; approve, reject or withdraw it first"
            )
        facts, outcome = _evaluate(db, session, gate, m, mv, ask, [], known)
        now = utcnow()
        row = t.PromotionRequest(
            version_id=mv.id,
            from_stage=mv.stage,
            to_stage=body.to.value,
            region=body.region,
            status=OPEN,
            requested_by=actor.name,
            comment=body.comment,
            break_glass_reason=body.break_glass_reason,
            created_at=now,
            expires_at=now + timedelta(days=gate.data(db).expires_after_days),
            overridden=[],
            revision=0,
        )
        session.add(row)
        session.flush()
        evaluation = render(facts, outcome, now)
        _store(row, evaluation)
        audit.append(
            session,
            actor,
            "promotion.open",
            f"promotion:{row.id}",
            {
                "model": m.name,
                "version": mv.version,
                "from": row.from_stage,
                "to": row.to_stage,
                "region": row.region,
                "comment": row.comment,
                "break_glass_reason": row.break_glass_reason,
                "expires_at": row.expires_at.isoformat(),
                "gate": _gate_note(evaluation),
            },
        )
        if outcome.allowed:
            _execute(session, actor, m, mv, row, [])
        return records.to_schema(session, row, m.name, mv.version)


def _expire_due(db: Database) -> None:
    """Close open requests whose time is up, each with its audit event, so a late approval
    meets an expired request instead of executing it."""
    now = utcnow()
    with db.reading() as session:
        due = list(
            session.execute(
                select(t.PromotionRequest.id).where(
                    t.PromotionRequest.status == OPEN, t.PromotionRequest.expires_at <= now
                )
            ).scalars()
        )
    if not due:
        return
    with db.transaction() as session:
        for request_id in due:
            row = session.get(t.PromotionRequest, request_id, with_for_update=True)
            if row is None or row.status != OPEN:
                continue
            row.status, row.closed_at = PromotionStatus.EXPIRED.value, now
            row.revision += 1
            audit.append(
                session,
                _SYSTEM,
                "promotion.expire",
                f"promotion:{row.id}",
                {"expires_at": row.expires_at.isoformat()},
            )


_SYSTEM = Actor(principal_id=0, name="system", roles=frozenset(), auth_method="local")


def _open_row(session: Session, request_id: int) -> t.PromotionRequest:
    row = records.find(session, request_id, lock=True)
    if row.status != OPEN:
        raise Conflict(
            f"promotion request {request_id} is {row.status}; only an open request can "
            "change (open a new one with `charter promote`)"
        )
    if row.expires_at <= utcnow():
        raise Conflict(f"promotion request {request_id} expired at {row.expires_at.isoformat()}")
    return row


def _facts_for(db: Database, gate: Gate, request_id: int) -> tuple[str, int, Ask, GateFacts]:
    with db.reading() as session:
        row = records.find(session, request_id)
        mv = session.get(t.ModelVersion, row.version_id)
        m = session.get(t.Model, mv.model_id) if mv is not None else None
        if m is None or mv is None:
            raise Conflict(f"promotion request {request_id} refers to a missing version")
        ask = _ask(row)
        facts = derive(session, m, mv, ask, gate.data(db), approvals(session, row.id))
        return m.name, mv.version, ask, facts


def decide(
    db: Database, gate: Gate, actor: Actor, request_id: int, verdict: Verdict, comment: str
) -> Promotion:
    """Record an approval or rejection. A rejection closes the request; an approval
    re-evaluates the gate and executes the promotion when it passes.

    Separation of duties is checked twice: by the bundle's policies (which name the rule
    to the caller), then here in code, so that no bundle can lift it. An admin who did not
    ask for a break-glass request confirms it by approving: then the gate's overridable
    rules are set aside and the override is recorded for good.
    """
    _expire_due(db)
    model, version, ask, facts = _facts_for(db, gate, request_id)
    resource = promotion_resource(facts)
    subject = f"promotion:{request_id}"
    action = Action.PROMOTION_APPROVE if verdict == Verdict.APPROVE else Action.PROMOTION_REJECT
    authorize(db, actor, action, resource, subject=subject)
    sod = (
        f"'{actor.name}' may not approve promotion request {request_id}: separation of "
        f"duties: the author of {model}@{version} or of a run that produced it never "
        "approves it, whatever their role"
    )
    if verdict == Verdict.APPROVE and actor.name in facts.run_authors | {facts.author}:
        record_denial(db, actor, action.value, subject, sod, {"rule": "separation-of-duties"})
        raise PermissionDenied(sod)
    confirming = (
        verdict == Verdict.APPROVE
        and ask.break_glass
        and Role.ADMIN in actor.roles
        and actor.name != ask.requested_by
    )
    if confirming:
        authorize(db, actor, Action.PROMOTION_OVERRIDE, resource, subject=subject)
    mine = Approval(actor.name, frozenset(role.value for role in actor.roles))
    known: Known = {}
    if verdict == Verdict.APPROVE:
        approved = [a for a in _current_approvals(db, request_id) if a.principal != actor.name]
        known = _preview(db, gate, model, version, ask, [*approved, mine])[0]
    with db.transaction() as session:
        row = _open_row(session, request_id)
        mv = session.get(t.ModelVersion, row.version_id)
        assert mv is not None  # a foreign key guarantees it
        # Locked before the first event: an approval may execute the promotion, which
        # updates the model (lock order: registry/common.lock_models).
        [m] = lock_models(session, [mv.model_id])
        if verdict == Verdict.APPROVE and actor.name in (authors(session, mv)[1] | {mv.author}):
            raise PermissionDenied(sod)
        previous = session.execute(
            select(t.PromotionDecision).where(
                t.PromotionDecision.request_id == row.id,
                t.PromotionDecision.principal == actor.name,
            )
        ).scalar_one_or_none()
        if previous is not None:
            raise Conflict(
                f"'{actor.name}' already decided promotion request {request_id} "
                f"({previous.verdict} at {previous.at.isoformat()}); each person counts once"
            )
        session.add(
            t.PromotionDecision(
                request_id=row.id,
                principal=actor.name,
                verdict=verdict.value,
                roles=sorted(mine.roles),
                comment=comment,
            )
        )
        session.flush()
        event = {
            "comment": comment,
            "roles": sorted(mine.roles),
            "confirms_break_glass": confirming,
        }
        audit.append(session, actor, f"promotion.{verdict.value}", subject, event)
        if verdict == Verdict.REJECT:
            row.status, row.closed_at = PromotionStatus.REJECTED.value, utcnow()
            row.revision += 1
            return records.to_schema(session, row, m.name, mv.version)
        _advance(db, session, gate, actor, m, mv, row, known, confirming)
        return records.to_schema(session, row, m.name, mv.version)


def _current_approvals(db: Database, request_id: int) -> list[Approval]:
    with db.reading() as session:
        return approvals(session, request_id)


def _advance(
    db: Database,
    session: Session,
    gate: Gate,
    actor: Actor,
    m: t.Model,
    mv: t.ModelVersion,
    row: t.PromotionRequest,
    known: Known,
    confirming: bool = False,
) -> GateEvaluation:
    """Evaluate the open request `row` and execute it if the gate passes, or if a second
    admin confirms a break-glass override and every blocking rule may be overridden."""
    facts, outcome = _evaluate(
        db, session, gate, m, mv, _ask(row), approvals(session, row.id), known
    )
    evaluation = render(facts, outcome, utcnow())
    _store(row, evaluation)
    if outcome.allowed:
        _execute(session, actor, m, mv, row, [])
    elif confirming and all(v.overridable for v in outcome.violations):
        _execute(session, actor, m, mv, row, [v.rule for v in outcome.violations])
    return evaluation


def evaluate(db: Database, gate: Gate, actor: Actor, request_id: int) -> Promotion:
    """Re-evaluate an open request now (after a model change or a policy push, say) and
    execute it if the gate passes."""
    _expire_due(db)
    model, version, ask, _ = _facts_for(db, gate, request_id)
    _authorize_request(
        db, actor, PromotionCreate(model=model, version=version, to=Stage(ask.target_stage))
    )
    known = _preview(db, gate, model, version, ask, _current_approvals(db, request_id))[0]
    with db.transaction() as session:
        row = _open_row(session, request_id)
        mv = session.get(t.ModelVersion, row.version_id)
        assert mv is not None
        [m] = lock_models(session, [mv.model_id])  # as in decide
        evaluation = _advance(db, session, gate, actor, m, mv, row, known)
        audit.append(
            session, actor, "promotion.evaluate", f"promotion:{row.id}", _gate_note(evaluation)
        )
        return records.to_schema(session, row, m.name, mv.version)


def reevaluate_open(
    db: Database, session: Session, gate: Gate, actor: Actor, m: t.Model, mv: t.ModelVersion
) -> None:
    """Re-evaluate every open request of `mv` in the caller's transaction (after new
    evidence, say): a request whose gate now passes executes with the caller's change."""
    now = utcnow()
    rows = session.execute(
        select(t.PromotionRequest)
        .where(t.PromotionRequest.version_id == mv.id, t.PromotionRequest.status == OPEN)
        .with_for_update()
    ).scalars()
    for row in list(rows):
        if row.expires_at <= now:
            continue
        evaluation = _advance(db, session, gate, actor, m, mv, row, {})
        audit.append(
            session, actor, "promotion.evaluate", f"promotion:{row.id}", _gate_note(evaluation)
        )


def withdraw(db: Database, actor: Actor, request_id: int, comment: str) -> Promotion:
    """The requester (or an admin) closes an open request without a decision."""
    with db.transaction() as session:
        row = _open_row(session, request_id)
        if actor.name != row.requested_by and Role.ADMIN not in actor.roles:
            raise PermissionDenied(
                f"only {row.requested_by!r}, who opened promotion request {request_id}, or an "
                "admin may withdraw it"
            )
        row.status, row.closed_at = PromotionStatus.WITHDRAWN.value, utcnow()
        row.revision += 1
        audit.append(
            session, actor, "promotion.withdraw", f"promotion:{row.id}", {"comment": comment}
        )
        mv = session.get(t.ModelVersion, row.version_id)
        assert mv is not None
        m = session.get(t.Model, mv.model_id)
        assert m is not None
        return records.to_schema(session, row, m.name, mv.version)
