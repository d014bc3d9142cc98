"""Appending events to the audit log inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from charter.domain.identity import Actor
from charter.store.tables import AuditEvent, AuditHead, utcnow


def actor_record(actor: Actor) -> dict[str, Any]:
    """Who acted and how they got in; never the secret they used."""
    return {
        "principal": actor.name,
        "auth": actor.auth_method,
        "token_id": actor.token_id,
        "request_id": actor.request_id,
        "client": actor.client_address,
        "user_agent": actor.user_agent,
    }


def append(
    session: Session, actor: Actor, action: str, subject: str, change: dict[str, Any]
) -> int:
    """Append one event in the caller's transaction and return its sequence number.

    Locking the head row makes concurrent writers queue up, so sequence numbers are
    gapless and follow commit order; on SQLite the write transaction already holds
    the database's single write lock.
    """
    head = session.execute(
        select(AuditHead).where(AuditHead.id == 1).with_for_update()
    ).scalar_one()
    head.size += 1
    session.add(
        AuditEvent(
            seq=head.size,
            at=utcnow(),
            actor=actor.name,
            action=action,
            subject=subject,
            payload={"actor": actor_record(actor), "change": change},
        )
    )
    return head.size
