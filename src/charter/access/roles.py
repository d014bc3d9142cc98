"""Which actions each role allows: the default bundle's role policies, as a table."""

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

# Every action a principal can be allowed: the gate's own action is not a permission.
PERMISSIONS = frozenset(Action) - {Action.GATE_PROMOTE}

ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.ADMIN: PERMISSIONS,
    Role.DATA_SCIENTIST: frozenset(
        _READ
        | {
            Action.MODEL_WRITE,
            Action.VERSION_WRITE,
            Action.DATASET_WRITE,
            Action.RUN_WRITE,
            Action.ARTIFACT_WRITE,
            Action.EVIDENCE_WRITE,
            Action.PROMOTION_REQUEST,
        }
    ),
    Role.ML_ENGINEER: frozenset(
        _READ
        | {
            Action.VERSION_ALIAS,
            Action.RUN_WRITE,
            Action.ARTIFACT_WRITE,
            Action.EVIDENCE_WRITE,
            Action.PROMOTION_REQUEST,
        }
    ),
    # Validators and risk officers change no model; they decide promotions, and validators
    # attach validation reports. A model's business owner signs off whatever their role.
    Role.VALIDATOR: frozenset(
        _READ
        | {
            Action.ARTIFACT_WRITE,  # to upload the reports they attach
            Action.EVIDENCE_WRITE,
            Action.PROMOTION_APPROVE,
            Action.PROMOTION_REJECT,
        }
    ),
    Role.RISK_OFFICER: frozenset(_READ | {Action.PROMOTION_APPROVE, Action.PROMOTION_REJECT}),
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
