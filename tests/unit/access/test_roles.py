"""The role -> action matrix, checked action by action."""

from __future__ import annotations

import pytest

from charter.access.roles import PERMISSIONS, ROLE_ACTIONS, allowed, require
from charter.domain.enums import Action, Role
from charter.domain.errors import PermissionDenied
from charter.domain.identity import Actor

READS = {
    Action.REGISTRY_READ,
    Action.ARTIFACT_READ,
    Action.PRINCIPAL_READ,
    Action.TOKEN_SELF,
    Action.POLICY_READ,
}


def actor(*roles: Role) -> Actor:
    return Actor(principal_id=1, name="who", roles=frozenset(roles))


def test_every_role_has_an_entry() -> None:
    assert set(ROLE_ACTIONS) == set(Role)


@pytest.mark.parametrize("action", sorted(PERMISSIONS))
def test_admin_may_do_everything(action: Action) -> None:
    assert allowed(actor(Role.ADMIN), action)


@pytest.mark.parametrize("action", sorted(PERMISSIONS))
def test_auditor_only_reads(action: Action) -> None:
    # Signing a checkpoint changes nothing recorded; it only fixes what is already there.
    audit = {Action.AUDIT_READ, Action.AUDIT_CHECKPOINT}
    assert allowed(actor(Role.AUDITOR), action) == (action in READS | audit)


@pytest.mark.parametrize("action", sorted(PERMISSIONS))
def test_consumer_only_manages_its_own_tokens(action: Action) -> None:
    assert allowed(actor(Role.CONSUMER), action) == (action == Action.TOKEN_SELF)


def test_data_scientist_writes_but_does_not_override_gates() -> None:
    ds = actor(Role.DATA_SCIENTIST)
    for action in (
        Action.MODEL_WRITE,
        Action.VERSION_WRITE,
        Action.DATASET_WRITE,
        Action.RUN_WRITE,
    ):
        assert allowed(ds, action)
    for action in (
        Action.PROMOTION_OVERRIDE,
        Action.PRINCIPAL_ADMIN,
        Action.TOKEN_ADMIN,
        Action.AUDIT_READ,
    ):
        assert not allowed(ds, action)


DECIDE = {Action.PROMOTION_APPROVE, Action.PROMOTION_REJECT}


def test_reviewers_read_and_decide_promotions() -> None:
    assert {a for a in Action if allowed(actor(Role.RISK_OFFICER), a)} == READS | DECIDE
    validator = {a for a in Action if allowed(actor(Role.VALIDATOR), a)}
    assert validator == READS | DECIDE | {Action.EVIDENCE_WRITE, Action.ARTIFACT_WRITE}


def test_only_admins_break_the_glass() -> None:
    assert [r for r in Role if allowed(actor(r), Action.PROMOTION_OVERRIDE)] == [Role.ADMIN]


def test_roles_combine_and_denial_explains() -> None:
    assert allowed(actor(Role.CONSUMER, Role.AUDITOR), Action.AUDIT_READ)
    assert not allowed(actor(), Action.REGISTRY_READ)
    with pytest.raises(PermissionDenied, match=r"promotion:override.*admin"):
        require(actor(Role.DATA_SCIENTIST), Action.PROMOTION_OVERRIDE)
    require(actor(Role.ADMIN), Action.PROMOTION_OVERRIDE)
