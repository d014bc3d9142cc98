"""Promotion requests through the default bundle's gate: tiers, four-eyes, break-glass,
expiry, facts that change while a request is open, and concurrent approvals."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update

from charter.audit import log as audit
from charter.domain.enums import Role, Stage
from charter.domain.errors import Conflict, PermissionDenied
from charter.domain.evidence import EvidenceKind
from charter.domain.gates import Promotion, PromotionCreate, PromotionStatus, Verdict
from charter.domain.identity import SYSTEM_ACTOR, Actor
from charter.domain.registry import ModelCreate, ModelUpdate, RunCreate
from charter.gates import promotions, records
from charter.registry import models, runs, versions
from charter.registry.common import find_model
from charter.store import tables as t
from charter.store.engine import Database
from charter.store.tables import utcnow
from tests.unit.gates.conftest import World


def ask(to: str = "production", region: str = "eu-west-1", **more: object) -> PromotionCreate:
    return PromotionCreate(model="credit", version=1, to=Stage(to), region=region, **more)


def open_(w: World, who: str = "dana", **more: object) -> Promotion:
    return promotions.open_request(w.db, w.gate, w[who], ask(**more))


def approve(w: World, who: str, request: int) -> Promotion:
    return promotions.decide(w.db, w.gate, w[who], request, Verdict.APPROVE, f"ok from {who}")


def blocking(p: Promotion) -> list[str]:
    assert p.gate is not None
    return p.gate.blocking


def retier(w: World, tier: str) -> None:
    revision = models.get_model(w.db, "credit").revision
    models.update_model(w.db, w["ada"], "credit", revision, ModelUpdate(risk_tier=tier))


def stage(w: World) -> Stage:
    return versions.get_version(w.db, "credit", 1).stage


def test_dry_run_lists_every_rule_and_opens_nothing(world: World) -> None:
    result = promotions.dry_run(world.db, world.gate, world["dana"], ask())
    assert not result.allowed
    assert set(result.blocking) == {
        "model-card-required",
        "transparency-notice-required",
        "independent-validation-required",
        "approvals-required",
        "business-owner-signoff-required",
    }
    passed = {rule.rule for rule in result.rules if rule.passed}
    assert {"metrics-required", "region-not-approved", "data-residency"} <= passed
    approvals = next(r for r in result.rules if r.rule == "approvals-required")
    assert "0 of 2 counted" in approvals.reason
    assert result.facts["model"]["risk_tier"] == "high"
    assert records.list_requests(world.db).items == []


def test_high_risk_needs_evidence_two_approvers_and_the_owner(world: World) -> None:
    opened = open_(world)
    assert opened.status == PromotionStatus.OPEN
    world.complete()
    assert blocking(records.get_request(world.db, opened.id)) == [
        "approvals-required",
        "business-owner-signoff-required",
    ]
    approve(world, "vic", opened.id)
    after_rita = approve(world, "rita", opened.id)
    assert blocking(after_rita) == ["business-owner-signoff-required"]
    assert stage(world) == Stage.NONE
    done = approve(world, "olga", opened.id)
    assert done.status == PromotionStatus.EXECUTED and done.executed_by == "olga"
    assert stage(world) == Stage.PRODUCTION
    history = versions.stage_history(world.db, "credit", 1)
    assert [(h.to_stage, h.comment) for h in history] == [
        (Stage.PRODUCTION, f"promotion #{opened.id}")
    ]
    actions = [e.action for e in world.events("promotion.")]
    assert actions.count("promotion.approve") == 3
    assert actions[-1] == "promotion.execute"
    assert [e.action for e in world.events("version.stage")] == ["version.stage"]


def test_minimal_tier_executes_on_open_when_the_card_is_there(world: World) -> None:
    models.create_model(
        world.db,
        world["ada"],
        ModelCreate(name="tiny", risk_tier="minimal", business_unit="retail"),
    )
    world.make_version("tiny")
    body = PromotionCreate(model="tiny", version=1, to=Stage.STAGING)
    blocked = promotions.open_request(world.db, world.gate, world["dana"], body)
    assert blocking(blocked) == ["model-card-required"]
    world.attach("dana", EvidenceKind.MODEL_CARD, "tiny")  # new evidence re-evaluates
    assert records.get_request(world.db, blocked.id).status == PromotionStatus.EXECUTED
    assert versions.get_version(world.db, "tiny", 1).stage == Stage.STAGING


def test_author_never_approves_not_even_as_admin(world: World) -> None:
    opened = open_(world)
    with pytest.raises(PermissionDenied, match="sod-author-never-approves"):
        approve(world, "dana", opened.id)
    # The same person made admin and validator is still the author.
    world.people["dana"] = Actor(
        principal_id=100, name="dana", roles=frozenset({Role.ADMIN, Role.VALIDATOR})
    )
    with pytest.raises(PermissionDenied, match="separation of duties"):
        approve(world, "dana", opened.id)
    assert records.get_request(world.db, opened.id).decisions == []
    denied = world.events("access.denied")
    assert len(denied) == 2


def test_run_author_never_approves(world: World) -> None:
    run = runs.create_run(world.db, world["vic"], RunCreate(name="train"))
    version = world.make_version()
    with world.db.transaction() as session:
        session.execute(
            update(t.ModelVersion).where(t.ModelVersion.version == version).values(run_id=run.id)
        )
    body = PromotionCreate(model="credit", version=version, to=Stage.PRODUCTION, region="eu-west-1")
    opened = promotions.open_request(world.db, world.gate, world["dana"], body)
    with pytest.raises(PermissionDenied, match=r"separation of duties|sod-author"):
        approve(world, "vic", opened.id)
    # ...and a validation report by the run's author is not independent.
    world.attach("vic", EvidenceKind.VALIDATION_REPORT, version=version)
    result = promotions.dry_run(world.db, world.gate, world["dana"], body)
    assert "independent-validation-required" in result.blocking


def test_each_person_counts_once(world: World) -> None:
    opened = open_(world)
    approve(world, "vic", opened.id)
    with pytest.raises(Conflict, match="counts once"):
        approve(world, "vic", opened.id)
    with pytest.raises(Conflict, match="counts once"):
        promotions.decide(world.db, world.gate, world["vic"], opened.id, Verdict.REJECT, "no")


def test_owner_signoff_does_not_also_count_as_an_approval(world: World) -> None:
    # The owner holds a risk-officer role: their approval is the sign-off, not one of two.
    world.people["olga"] = Actor(
        principal_id=101, name="olga", roles=frozenset({Role.RISK_OFFICER})
    )
    opened = open_(world)
    world.complete()
    approve(world, "olga", opened.id)
    result = approve(world, "vic", opened.id)
    assert blocking(result) == ["approvals-required"]
    assert result.gate is not None and result.gate.facts["approvals"]["count"] == 1
    assert approve(world, "rita", opened.id).status == PromotionStatus.EXECUTED


def test_roles_that_may_not_decide(world: World) -> None:
    opened = open_(world)
    for who in ("aud", "dana"):
        with pytest.raises(PermissionDenied):
            promotions.decide(world.db, world.gate, world[who], opened.id, Verdict.REJECT, "x")


def test_reject_closes_the_request(world: World) -> None:
    opened = open_(world)
    rejected = promotions.decide(
        world.db, world.gate, world["rita"], opened.id, Verdict.REJECT, "bias unexplained"
    )
    assert rejected.status == PromotionStatus.REJECTED
    with pytest.raises(Conflict, match="is rejected"):
        approve(world, "vic", opened.id)
    again = open_(world)  # a new request may be opened
    assert again.id != opened.id


def test_one_open_request_per_version_and_stage(world: World) -> None:
    first = open_(world)
    with pytest.raises(Conflict, match=f"request {first.id}"):
        open_(world)
    promotions.withdraw(world.db, world["dana"], first.id, "wrong region")
    with pytest.raises(PermissionDenied):
        promotions.withdraw(world.db, world["vic"], open_(world).id, "not mine")


def test_requests_expire(world: World) -> None:
    opened = open_(world)
    with world.db.transaction() as session:
        session.execute(
            update(t.PromotionRequest).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert records.get_request(world.db, opened.id).status == PromotionStatus.EXPIRED
    expired = records.list_requests(world.db, status=PromotionStatus.EXPIRED).items
    assert [p.id for p in expired] == [opened.id]
    assert records.list_requests(world.db, status=PromotionStatus.OPEN).items == []
    with pytest.raises(Conflict, match="expired"):
        approve(world, "vic", opened.id)
    assert [e.action for e in world.events("promotion.expire")] == ["promotion.expire"]


def test_facts_that_change_while_open(world: World) -> None:
    retier(world, "limited")
    opened = open_(world)
    assert blocking(opened) == ["model-card-required", "transparency-notice-required"]
    # The tier is raised while the request is open: new evidence now meets the high bar.
    retier(world, "high")
    world.attach("dana", EvidenceKind.MODEL_CARD)
    world.attach("dana", EvidenceKind.TRANSPARENCY_NOTICE)
    current = records.get_request(world.db, opened.id)
    assert current.status == PromotionStatus.OPEN
    assert "approvals-required" in blocking(current)
    # Lowered again: an explicit re-evaluation executes it.
    retier(world, "limited")
    done = promotions.evaluate(world.db, world.gate, world["dana"], opened.id)
    assert done.status == PromotionStatus.EXECUTED
    assert stage(world) == Stage.PRODUCTION


def test_region_and_data_residency(world: World) -> None:
    assert (
        "region-required"
        in promotions.dry_run(world.db, world.gate, world["dana"], ask(region="")).blocking
    )
    outside = promotions.dry_run(world.db, world.gate, world["dana"], ask(region="us-east-1"))
    assert "region-not-approved" in outside.blocking
    reason = next(r.reason for r in outside.rules if r.rule == "region-not-approved")
    assert "'us-east-1'" in reason and "eu-west-1" in reason
    us = world.make_version(dataset_version=2)
    body = PromotionCreate(model="credit", version=us, to=Stage.STAGING)
    result = promotions.dry_run(world.db, world.gate, world["dana"], body)
    assert "data-residency" in result.blocking
    assert result.facts["version"]["training_data_regions"] == ["us"]


def test_unacceptable_tier_is_never_deployable(world: World) -> None:
    retier(world, "unacceptable")
    opened = open_(world, who="ada", break_glass_reason="regulator asked for a live test")
    assert "tier-not-deployable" in blocking(opened)
    rule = next(r for r in opened.gate.rules if r.rule == "tier-not-deployable")  # type: ignore[union-attr]
    assert rule.overridable is False
    still = approve(world, "bert", opened.id)  # a second admin cannot break this glass
    assert still.status == PromotionStatus.OPEN
    assert stage(world) == Stage.NONE


def test_break_glass_needs_a_reason_a_second_admin_and_is_recorded(world: World) -> None:
    with pytest.raises(PermissionDenied):
        open_(world, who="dana", break_glass_reason="outage in the old model, customers blocked")
    opened = open_(
        world, who="ada", break_glass_reason="outage in the old model, customers blocked"
    )
    own = approve(world, "ada", opened.id)  # the opener approving confirms nothing
    assert own.status == PromotionStatus.OPEN
    done = approve(world, "bert", opened.id)
    assert done.status == PromotionStatus.EXECUTED
    assert set(done.overridden) == set(blocking(opened))
    assert stage(world) == Stage.PRODUCTION
    note = versions.get_version(world.db, "credit", 1).break_glass
    assert [(n.request, n.requested_by, n.confirmed_by) for n in note] == [
        (opened.id, "ada", "bert")
    ]
    assert models.get_model(world.db, "credit").break_glass[0].reason.startswith("outage")
    glass = world.events("promotion.break_glass")
    assert len(glass) == 1
    # Later changes to the version keep the note.
    version = versions.get_version(world.db, "credit", 1)
    from charter.domain.registry import ModelVersionUpdate

    versions.update_version(
        world.db, world["ada"], "credit", 1, version.revision, ModelVersionUpdate(tags={"a": "b"})
    )
    assert len(versions.get_version(world.db, "credit", 1).break_glass) == 1


def test_concurrent_last_approvals_execute_once(world: World) -> None:
    opened = open_(world)
    world.complete()
    approve(world, "olga", opened.id)
    errors: list[Exception] = []
    barrier = threading.Barrier(3)

    def run(who: str) -> None:
        barrier.wait()
        try:
            approve(world, who, opened.id)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(who,)) for who in ("vic", "val", "rita")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = records.get_request(world.db, opened.id)
    # Two approvals execute it; a third may land before or be refused as closed.
    assert final.status == PromotionStatus.EXECUTED
    assert all(isinstance(e, Conflict) for e in errors), errors
    assert len(final.decisions) + len(errors) == 4
    with world.db.reading() as session:
        moves = session.execute(select(func.count()).select_from(t.StageTransition)).scalar()
    assert moves == 1
    assert len(world.events("promotion.execute")) == 1


def _wait_until_someone_waits_for_a_lock(db: Database) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with db.rows() as connection:
            waiting = connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            ).scalar()
        if waiting:
            return
        time.sleep(0.02)
    raise AssertionError("nobody ended up waiting for a lock")


@pytest.mark.parametrize("backend", ["postgresql"])  # SQLite's single writer cannot deadlock
def test_an_executing_approval_queues_behind_a_registration_without_deadlock(
    world: World,
) -> None:
    """Lock order: model rows before the audit log's head. A registration locks its model
    first and appends its events last; an approval that will execute the promotion (and
    so update the model) must queue for the model before it takes the head, or the two
    wait for each other until PostgreSQL aborts one."""
    opened = open_(world)
    world.complete()
    approve(world, "olga", opened.id)
    approve(world, "vic", opened.id)  # the next approval executes the promotion
    errors: list[Exception] = []

    def last_approval() -> None:
        try:
            approve(world, "val", opened.id)
        except Exception as exc:
            errors.append(exc)

    approver = threading.Thread(target=last_approval)
    with world.db.transaction() as session:
        find_model(session, "credit", lock=True)  # what a registration takes first
        approver.start()
        _wait_until_someone_waits_for_a_lock(world.db)
        audit.append(session, SYSTEM_ACTOR, "version.create", "model:credit@2", {})  # ...and last
    approver.join(timeout=30)
    assert errors == []
    assert records.get_request(world.db, opened.id).status == PromotionStatus.EXECUTED
    assert len(world.events("promotion.execute")) == 1


def test_same_person_racing_themselves_counts_once(world: World) -> None:
    opened = open_(world)
    errors: list[Exception] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        try:
            approve(world, "vic", opened.id)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 1 and isinstance(errors[0], Conflict)
    assert len(records.get_request(world.db, opened.id).decisions) == 1


def test_gate_needs_a_valid_signature(world: World) -> None:
    assert (
        "signature-required"
        not in promotions.dry_run(world.db, world.gate, world["dana"], ask()).blocking
    )
    # A signature whose statement no longer matches the version (or verifies) blocks.
    with world.db.transaction() as session:
        row = session.execute(select(t.Evidence).where(t.Evidence.kind == "signature")).scalar_one()
        statement = dict(row.details["statement"])
        statement["manifest_digest"] = "0" * 64
        row.details = {"statement": statement}
    result = promotions.dry_run(world.db, world.gate, world["dana"], ask())
    assert "signature-required" in result.blocking
    assert result.facts["evidence"]["signature_valid"] is False
