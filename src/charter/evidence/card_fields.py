"""The human-written sections of a version's model card: edited by people, audited, and
merged with the generated sections when the card is produced."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from charter.audit import log as audit
from charter.domain.common import unstorable
from charter.domain.enums import Action
from charter.domain.errors import InvalidInput
from charter.domain.evidence import CardFields, CardFieldsUpdate
from charter.domain.identity import Actor
from charter.policy.access import authorize
from charter.policy.entities import version_resource
from charter.registry import models
from charter.registry.common import find_version
from charter.store import tables as t
from charter.store.engine import Database
from charter.store.tables import utcnow


def read(session: Session, version_id: int) -> dict[str, tuple[str, str]]:
    """section -> (text, updated_by)."""
    rows = session.execute(
        select(t.ModelCardField).where(t.ModelCardField.version_id == version_id)
    ).scalars()
    return {row.section: (row.text, row.updated_by) for row in rows}


def _schema(model: str, version: int, found: dict[str, tuple[str, str]]) -> CardFields:
    return CardFields(
        model=model,
        version=version,
        fields={section: text for section, (text, _) in sorted(found.items())},
        updated={section: by for section, (_, by) in sorted(found.items())},
    )


def get(db: Database, model: str, version: int) -> CardFields:
    with db.reading() as session:
        m, mv = find_version(session, model, version)
        return _schema(m.name, mv.version, read(session, mv.id))


def update(
    db: Database, actor: Actor, model: str, version: int, body: CardFieldsUpdate
) -> CardFields:
    """Set (or, with "", clear) sections; the change is audited with before and after."""
    for section, text in body.fields.items():
        if (reason := unstorable(text)) is not None:
            raise InvalidInput(f"fields.{section.value}: {reason}")
    with db.reading() as session:
        m, mv = find_version(session, model, version)
        target = version_resource(models.resource_of(m), mv.version, mv.author, mv.stage)
    authorize(db, actor, Action.EVIDENCE_WRITE, target, subject=f"model:{model}@{version}")
    with db.transaction() as session:
        m, mv = find_version(session, model, version)
        before = read(session, mv.id)
        for section, text in body.fields.items():
            session.execute(
                delete(t.ModelCardField).where(
                    t.ModelCardField.version_id == mv.id,
                    t.ModelCardField.section == section.value,
                )
            )
            if text:
                session.add(
                    t.ModelCardField(
                        version_id=mv.id,
                        section=section.value,
                        text=text,
                        updated_by=actor.name,
                        updated_at=utcnow(),
                    )
                )
        session.flush()
        after = read(session, mv.id)
        changed = sorted(s.value for s in body.fields)
        audit.append(
            session,
            actor,
            "model_card.fields",
            f"model:{model}@{version}",
            {
                "sections": changed,
                "before": {s: before[s][0] for s in changed if s in before},
                "after": {s: after[s][0] for s in changed if s in after},
            },
        )
        return _schema(m.name, mv.version, after)
