"""The role -> action matrix, checked action by action."""

from __future__ import annotations

import pytest

from charter.access.roles import ROLE_ACTIONS, allowed, require
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


@pytest.mark.parametrize("action", list(Action))
def test_admin_may_do_everything(action: Action) -> None:
    assert allowed(actor(Role.ADMIN), action)


@pytest.mark.parametrize("action", list(Action))
def test_auditor_only_reads(action: Action) -> None:
    # Signing a checkpoint changes nothing recorded; it only fixes what is already there.
    audit = {Action.AUDIT_READ, Action.AUDIT_CHECKPOINT}
    assert allowed(actor(Role.AUDITOR), action) == (action in READS | audit)


@pytest.mark.parametrize("action", list(Action))
def test_consumer_only_manages_its_own_tokens(action: Action) -> None:
    assert allowed(actor(Role.CONSUMER), action) == (action == Action.TOKEN_SELF)


def test_data_scientist_writes_but_does_not_stage() -> None:
    ds = actor(Role.DATA_SCIENTIST)
    for action in (
        Action.MODEL_WRITE,
        Action.VERSION_WRITE,
        Action.DATASET_WRITE,
        Action.RUN_WRITE,
    ):
        assert allowed(ds, action)
    for action in (
        Action.VERSION_STAGE,
        Action.PRINCIPAL_ADMIN,
        Action.TOKEN_ADMIN,
        Action.AUDIT_READ,
    ):
        assert not allowed(ds, action)


@pytest.mark.parametrize("role", [Role.VALIDATOR, Role.RISK_OFFICER])
def test_reviewers_read_only(role: Role) -> None:
    assert {a for a in Action if allowed(actor(role), a)} == READS


def test_only_admin_changes_stages() -> None:
    assert [r for r in Role if allowed(actor(r), Action.VERSION_STAGE)] == [Role.ADMIN]


def test_roles_combine_and_denial_explains() -> None:
    assert allowed(actor(Role.CONSUMER, Role.AUDITOR), Action.AUDIT_READ)
    assert not allowed(actor(), Action.REGISTRY_READ)
    with pytest.raises(PermissionDenied, match=r"version:stage.*admin"):
        require(actor(Role.DATA_SCIENTIST), Action.VERSION_STAGE)
    require(actor(Role.ADMIN), Action.VERSION_STAGE)
