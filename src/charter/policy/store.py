"""Policy bundles in the database: validated pushes, their history, and the active one."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import func, select

from charter.audit import log as audit
from charter.domain.errors import Conflict, InvalidInput, NotFound
from charter.domain.identity import Actor
from charter.domain.policy import PolicyBundleDetail, PolicyBundleInfo, PolicyPush
from charter.policy.bundle import Bundle, bundle_from_files, default_bundle, diff, validate
from charter.policy.cases import run_cases
from charter.policy.engine import PolicyEngine
from charter.store import tables as t
from charter.store.engine import Database

# Replicas notice a push within this many seconds; the pushing process at once.
ACTIVE_TTL_SECONDS = 1.0
DEFAULT_VERSION = 0  # the shipped bundle, in force until the first push


@dataclass(frozen=True)
class Active:
    version: int
    bundle: Bundle
    engine: PolicyEngine


_lock = threading.Lock()
_active: dict[str, tuple[float, Active]] = {}  # database URL -> (checked at, bundle)
_default: Active | None = None


def _default_active() -> Active:
    global _default
    if _default is None:
        bundle = default_bundle()
        _default = Active(DEFAULT_VERSION, bundle, PolicyEngine(bundle))
    return _default


def active(db: Database) -> Active:
    """The bundle in force: the newest push, else the shipped default.

    Checked against the database at most every ACTIVE_TTL_SECONDS; the engine (and its
    decision cache) is rebuilt only when the version changes.
    """
    fresh = active_in_memory(db)
    if fresh is not None:
        return fresh
    now, cached = time.monotonic(), _active.get(db.url)
    with db.rows() as connection:
        newest = connection.execute(
            select(t.PolicyBundle.version, t.PolicyBundle.digest)
            .order_by(t.PolicyBundle.version.desc())
            .limit(1)
        ).first()
    if newest is None:
        current = _default_active()
    elif cached is not None and cached[1].version == newest.version:
        current = cached[1]
    else:
        current = _load(db, newest.version)
    with _lock:
        _active[db.url] = (now, current)
    return current


def active_in_memory(db: Database) -> Active | None:
    """The bundle in force if it was checked less than ACTIVE_TTL_SECONDS ago, else None
    (then `active` reads the database)."""
    cached = _active.get(db.url)
    if cached is not None and time.monotonic() - cached[0] < ACTIVE_TTL_SECONDS:
        return cached[1]
    return None


def _load(db: Database, version: int) -> Active:
    with db.rows() as connection:
        files = connection.execute(
            select(t.PolicyBundle.files).where(t.PolicyBundle.version == version)
        ).scalar_one()
    bundle = bundle_from_files(files)
    return Active(version, bundle, PolicyEngine(bundle))


def forget(db: Database) -> None:
    """Drop the cached active bundle (after a push in this process)."""
    with _lock:
        _active.pop(db.url, None)


def _info(row: t.PolicyBundle) -> PolicyBundleInfo:
    return PolicyBundleInfo(
        version=row.version,
        digest=row.digest,
        pushed_by=row.pushed_by,
        comment=row.comment,
        created_at=row.created_at,
        files=sorted(row.files),
    )


def check(bundle: Bundle) -> None:
    """Refuse a bundle that does not validate or whose own cases fail."""
    problems = validate(bundle)
    if problems:
        listed = "; ".join(problems[:20])
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise InvalidInput(f"the policy bundle does not validate: {listed}{more}")
    failed = [r for r in run_cases(bundle) if not r.passed]
    if failed:
        listed = "; ".join(f"{r.name}: {r.message}" for r in failed[:10])
        raise InvalidInput(f"{len(failed)} of the bundle's own policy tests fail: {listed}")


def push(db: Database, actor: Actor, body: PolicyPush) -> PolicyBundleInfo:
    """Validate, test and store a bundle as the next version; audited with its diff."""
    bundle = bundle_from_files(body.files)
    check(bundle)
    with db.transaction() as session:
        newest = session.execute(
            select(t.PolicyBundle).order_by(t.PolicyBundle.version.desc()).limit(1)
        ).scalar_one_or_none()
        if newest is not None and newest.digest == bundle.digest:
            raise Conflict(
                f"this bundle is already active as version {newest.version}; nothing to push"
            )
        previous = bundle_from_files(newest.files) if newest is not None else default_bundle()
        row = t.PolicyBundle(
            digest=bundle.digest,
            files=dict(bundle.files),
            pushed_by=actor.name,
            comment=body.comment,
        )
        session.add(row)
        session.flush()
        audit.append(
            session,
            actor,
            "policy.push",
            f"policy-bundle:{row.version}",
            {
                "version": row.version,
                "digest": bundle.digest,
                "previous_digest": previous.digest,
                "files": sorted(bundle.files),
                "comment": body.comment,
                "diff": diff(previous, bundle),
            },
        )
        info = _info(row)
    forget(db)
    return info


def list_bundles(db: Database) -> list[PolicyBundleInfo]:
    with db.reading() as session:
        rows = session.execute(select(t.PolicyBundle).order_by(t.PolicyBundle.version)).scalars()
        return [_info(r) for r in rows]


def bundle_at(db: Database, version: int | None = None) -> tuple[int, Bundle]:
    """A stored version, or (None) the one in force; version 0 is the shipped default."""
    if version == DEFAULT_VERSION:
        return DEFAULT_VERSION, default_bundle()
    if version is None:
        current = active(db)
        return current.version, current.bundle
    with db.rows() as connection:
        files = connection.execute(
            select(t.PolicyBundle.files).where(t.PolicyBundle.version == version)
        ).scalar()
        newest = connection.execute(select(func.max(t.PolicyBundle.version))).scalar() or 0
    if files is None:
        raise NotFound(f"no policy bundle version {version}; versions are 0 (default)..{newest}")
    return version, bundle_from_files(files)


def detail(db: Database, version: int | None = None) -> PolicyBundleDetail:
    number, bundle = bundle_at(db, version)
    return PolicyBundleDetail(version=number, digest=bundle.digest, files=dict(bundle.files))
