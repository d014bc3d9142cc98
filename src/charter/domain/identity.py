"""Principals (users and service accounts), API tokens and the acting identity."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from charter.domain.common import (
    Name,
    Region,
    Request,
    SafeStr,
    ShortText,
    Stamped,
    UtcDatetime,
)
from charter.domain.enums import PrincipalKind, Role

Email = Annotated[str, StringConstraints(max_length=320, pattern=r"^[^@\s\x00]+@[^@\s\x00]+$")]


Purpose = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]


class PrincipalCreate(Request):
    name: Name
    kind: PrincipalKind = PrincipalKind.USER
    display_name: ShortText = ""
    email: Email | None = None
    roles: list[Role] = Field(min_length=1, max_length=len(Role))
    business_unit: ShortText | None = None
    region: Region | None = None
    purposes: list[Purpose] = Field(default_factory=list, max_length=50)


class PrincipalUpdate(Request):
    display_name: ShortText | None = None
    email: Email | None = None
    roles: list[Role] | None = Field(None, min_length=1, max_length=len(Role))
    business_unit: ShortText | None = None
    region: Region | None = None
    purposes: list[Purpose] | None = Field(None, max_length=50)
    active: bool | None = None


class Principal(Stamped):
    name: str
    kind: PrincipalKind
    display_name: str
    email: str | None
    roles: list[Role]
    business_unit: str | None
    region: str | None = None
    purposes: list[str] = Field(default_factory=list)
    active: bool


class TokenCreate(Request):
    name: Annotated[SafeStr, Field(min_length=1, max_length=128)]
    principal: Name | None = Field(None, description="whose token; default: the caller")
    expires_at: UtcDatetime | None = None


class Token(Stamped):
    id: int
    name: str
    principal: str
    prefix: str = Field(description="first characters of the secret, to recognise it")
    expires_at: datetime | None
    revoked_at: datetime | None


class IssuedToken(Token):
    secret: str = Field(description="shown once; Charter keeps only its hash")


@dataclass(frozen=True)
class Actor:
    """Who is acting and how they got in: passed to every service function."""

    principal_id: int
    name: str
    roles: frozenset[Role]
    auth_method: str = "token"
    token_id: int | None = None
    request_id: str | None = None
    client_address: str | None = None
    user_agent: str | None = None
    business_unit: str | None = None
    region: str | None = None
    purposes: frozenset[str] = frozenset()
    attributes: dict[str, str] = field(default_factory=dict)
    # Which policy bundle and policies let this request in: every audit event of the
    # request records it, so each change names the rules it was allowed under.
    authorized_by: str | None = None


SYSTEM_ACTOR = Actor(
    principal_id=0, name="system", roles=frozenset({Role.ADMIN}), auth_method="local"
)
