"""authorize(): every action is decided by the policy bundle in force; default deny."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from charter.audit.access import record_denial
from charter.domain.enums import Action
from charter.domain.errors import PermissionDenied
from charter.domain.identity import Actor
from charter.policy import store
from charter.policy.engine import Decision
from charter.policy.entities import Resource, api_resource
from charter.store.engine import Database

_API = api_resource()


@dataclass(frozen=True)
class Authorized:
    """An allowed decision and the bundle version that made it."""

    decision: Decision
    version: int
    digest: str

    @property
    def note(self) -> str:
        """The form audit events record: 'bundle 3 (adf1056f3c68): role-admin'."""
        return f"bundle {self.version} ({self.digest[:12]}): {', '.join(self.decision.policies)}"


def allowed_in_memory(db: Database, actor: Actor, action: Action) -> Authorized | None:
    """`authorize` on the API itself, answered without the database: the grant when the
    bundle in force is in memory and allows the action, else None. None is no refusal:
    call `authorize`, which reads what it needs and audits a denial."""
    current = store.active_in_memory(db)
    if current is None:
        return None
    decision = current.engine.decide(actor, action, _API)
    return (
        Authorized(decision, current.version, current.bundle.digest) if decision.allowed else None
    )


def authorize(
    db: Database,
    actor: Actor,
    action: Action,
    resource: Resource | None = None,
    context: dict[str, Any] | None = None,
    subject: str | None = None,
) -> Authorized:
    """Allow, or audit the denial and raise PermissionDenied naming policy and bundle.

    `resource` defaults to the API itself, for actions that concern no one resource
    (lists, principal administration, the audit log); `subject` names what was refused
    in the audit event (default: the resource).
    """
    current = store.active(db)
    target = resource or _API
    decision = current.engine.decide(actor, action, target, context)
    if decision.allowed:
        return Authorized(decision, current.version, current.bundle.digest)
    message = (
        f"'{actor.name}' may not perform {action.value}: {decision.message(action)} "
        f"(policy bundle version {current.version}, {current.bundle.digest[:12]})"
    )
    record_denial(
        db,
        actor,
        action.value,
        subject or f"{target.type.lower()}:{target.id}",
        message,
        {
            "bundle_version": current.version,
            "bundle_digest": current.bundle.digest,
            "policies": list(decision.policies),
            "errors": list(decision.errors),
        },
    )
    raise PermissionDenied(message)
