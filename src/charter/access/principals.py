"""Users and service accounts: create, read, update, and the very first admin."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from charter.access import tokens
from charter.audit import log as audit
from charter.domain.common import Page
from charter.domain.enums import PrincipalKind, Role
from charter.domain.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from charter.domain.identity import (
    SYSTEM_ACTOR,
    Actor,
    IssuedToken,
    Principal,
    PrincipalCreate,
    PrincipalUpdate,
    TokenCreate,
)
from charter.store import tables as t
from charter.store.engine import Database
from charter.store.pagination import check_limit, decode_cursor, encode_cursor

# Module-level, so pydantic's weakly cached generic class is built once, not per call.
PrincipalPage = Page[Principal]


def to_schema(row: t.Principal) -> Principal:
    return Principal(
        name=row.name,
        kind=PrincipalKind(row.kind),
        display_name=row.display_name,
        email=row.email,
        roles=[Role(r) for r in row.roles],
        business_unit=row.business_unit,
        region=row.region,
        purposes=list(row.purposes or []),
        active=row.active,
        created_at=row.created_at,
        revision=row.revision,
    )


def find(session: Session, name: str) -> t.Principal:
    row = session.execute(select(t.Principal).where(t.Principal.name == name)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no user or service account named '{name}'")
    return row


def require_existing(session: Session, name: str | None, field: str) -> None:
    """Owners and authors must be known principals, so accountability is never a typo."""
    if name is None:
        return
    exists = session.execute(select(t.Principal.id).where(t.Principal.name == name)).first()
    if exists is None:
        raise InvalidInput(f"{field} '{name}' is not a registered user; create it first")


def _insert(session: Session, actor: Actor, body: PrincipalCreate) -> t.Principal:
    if session.execute(select(t.Principal.id).where(t.Principal.name == body.name)).first():
        raise Conflict(f"a principal named '{body.name}' already exists; choose another name")
    row = t.Principal(
        name=body.name,
        kind=body.kind.value,
        display_name=body.display_name,
        email=body.email,
        roles=sorted({r.value for r in body.roles}),
        business_unit=body.business_unit,
        region=body.region,
        purposes=sorted(set(body.purposes)),
        active=True,
    )
    session.add(row)
    session.flush()
    audit.append(
        session,
        actor,
        "principal.create",
        f"principal:{row.name}",
        {"after": to_schema(row).model_dump(mode="json")},
    )
    return row


def create_principal(db: Database, actor: Actor, body: PrincipalCreate) -> Principal:
    with db.transaction() as session:
        return to_schema(_insert(session, actor, body))


def bootstrap_admin(db: Database, name: str) -> tuple[Principal, IssuedToken]:
    """Create the first admin and its token; refused once any principal exists."""
    with db.transaction() as session:
        count = session.execute(select(func.count()).select_from(t.Principal)).scalar_one()
        if count:
            raise Conflict("this Charter home already has users; ask an admin for a token instead")
        row = _insert(
            session,
            SYSTEM_ACTOR,
            PrincipalCreate(name=name, display_name="Administrator", roles=[Role.ADMIN]),
        )
        token = tokens.issue_in(session, SYSTEM_ACTOR, row, TokenCreate(name="bootstrap"))
        return to_schema(row), token


def get_principal(db: Database, name: str) -> Principal:
    with db.reading() as session:
        return to_schema(find(session, name))


def list_principals(
    db: Database,
    *,
    cursor: str | None = None,
    limit: int = 100,
    role: Role | None = None,
    kind: PrincipalKind | None = None,
    business_unit: str | None = None,
    name_prefix: str | None = None,
) -> Page[Principal]:
    after, limit = decode_cursor(cursor), check_limit(limit)
    query = select(t.Principal).where(t.Principal.id > after).order_by(t.Principal.id)
    if kind is not None:
        query = query.where(t.Principal.kind == kind.value)
    if business_unit is not None:
        query = query.where(t.Principal.business_unit == business_unit)
    if name_prefix:
        query = query.where(t.Principal.name.startswith(name_prefix, autoescape=True))
    with db.reading() as session:
        rows = list(session.execute(query).scalars())
    if role is not None:
        # Roles are a small JSON list; filtering in Python keeps SQLite and PostgreSQL alike.
        rows = [r for r in rows if role.value in r.roles]
    page = rows[:limit]
    nxt = encode_cursor(page[-1].id) if len(rows) > limit else None
    return PrincipalPage(items=[to_schema(r) for r in page], next_cursor=nxt)


def update_principal(
    db: Database, actor: Actor, name: str, revision: int, body: PrincipalUpdate
) -> Principal:
    try:
        return _update(db, actor, name, revision, body)
    finally:
        tokens.changed()  # after the commit: this process sees the new roles at once


def _update(
    db: Database, actor: Actor, name: str, revision: int, body: PrincipalUpdate
) -> Principal:
    with db.transaction() as session:
        row = find(session, name)
        if row.revision != revision:
            raise PreconditionFailed(
                f"principal '{name}' changed since revision {revision} (now {row.revision}); "
                "fetch it again and reapply your change"
            )
        before = to_schema(row).model_dump(mode="json")
        changes = body.model_dump(exclude_unset=True)
        if changes.get("purposes") is not None:
            changes["purposes"] = sorted(set(changes["purposes"]))
        if "roles" in changes and changes["roles"] is not None:
            changes["roles"] = sorted({Role(r).value for r in changes["roles"]})
        for key, value in changes.items():
            if value is None and key in ("roles", "active", "display_name", "purposes"):
                raise InvalidInput(f"{key} cannot be null")
            setattr(row, key, value)
        if Role.ADMIN.value in before["roles"] and not _is_active_admin(row):
            _ensure_another_admin(session, row.id)
        row.revision += 1
        session.flush()
        after = to_schema(row).model_dump(mode="json")
        audit.append(
            session,
            actor,
            "principal.update",
            f"principal:{name}",
            {"before": before, "after": after},
        )
        return to_schema(row)


def _is_active_admin(row: t.Principal) -> bool:
    return row.active and Role.ADMIN.value in row.roles


def _ensure_another_admin(session: Session, excluding: int) -> None:
    rows = session.execute(
        select(t.Principal).where(t.Principal.id != excluding, t.Principal.active.is_(True))
    ).scalars()
    if not any(Role.ADMIN.value in r.roles for r in rows):
        raise Conflict("this is the last active admin; make another admin before removing it")
