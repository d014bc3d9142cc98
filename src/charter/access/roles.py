"""Which actions each role allows; the baseline that policies refine in a later layer."""

from __future__ import annotations

from charter.domain.enums import Action, Role
from charter.domain.errors import PermissionDenied
from charter.domain.identity import Actor

_READ = {
    Action.REGISTRY_READ,
    Action.ARTIFACT_READ,
    Action.PRINCIPAL_READ,
    Action.TOKEN_SELF,
    Action.POLICY_READ,
}

ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.DATA_SCIENTIST: frozenset(
        _READ
        | {
            Action.MODEL_WRITE,
            Action.VERSION_WRITE,
            Action.DATASET_WRITE,
            Action.RUN_WRITE,
            Action.ARTIFACT_WRITE,
        }
    ),
    Role.ML_ENGINEER: frozenset(
        _READ | {Action.VERSION_ALIAS, Action.RUN_WRITE, Action.ARTIFACT_WRITE}
    ),
    Role.VALIDATOR: frozenset(_READ),
    Role.RISK_OFFICER: frozenset(_READ),
    Role.AUDITOR: frozenset(_READ | {Action.AUDIT_READ, Action.AUDIT_CHECKPOINT}),
    # Consumers call the models they are granted through the gateway, nothing else.
    Role.CONSUMER: frozenset({Action.TOKEN_SELF}),
}


def allowed(actor: Actor, action: Action) -> bool:
    return any(action in ROLE_ACTIONS[role] for role in actor.roles)


def require(actor: Actor, action: Action) -> None:
    if not allowed(actor, action):
        roles = ", ".join(sorted(r.value for r in actor.roles)) or "none"
        grant = ", ".join(sorted(r.value for r, acts in ROLE_ACTIONS.items() if action in acts))
        raise PermissionDenied(
            f"'{actor.name}' (roles: {roles}) may not perform {action.value}; "
            f"it needs one of the roles: {grant}"
        )
