"""Making a Charter home: directories, the migrated database and the first admin."""

from __future__ import annotations

from pathlib import Path

from charter.access.principals import bootstrap_admin
from charter.audit import ledger
from charter.audit.keys import create_signing_key
from charter.domain.identity import SYSTEM_ACTOR, IssuedToken, Principal
from charter.settings import Settings
from charter.store.engine import Database
from charter.store.migrate import upgrade


def upgrade_database(settings: Settings) -> None:
    db = Database(settings.resolved_database_url, pool_size=1)
    try:
        upgrade(db.engine)
    finally:
        db.dispose()


def init_home(settings: Settings, admin: str = "admin") -> tuple[Principal, IssuedToken]:
    """Create the home, migrate the database, make the audit signing key (unless one
    exists) and the first admin with a token, and sign the log's first checkpoint."""
    home = Path(settings.home)
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    (home / "tmp").mkdir(exist_ok=True)
    if settings.artifact_url is None:
        (home / "artifacts").mkdir(exist_ok=True)
    upgrade_database(settings)
    key_path = settings.resolved_audit_key
    signer = ledger.load_signer(key_path) or ledger.Signer(create_signing_key(key_path))
    db = Database(settings.resolved_database_url, pool_size=1)
    try:
        ledger.register_key(db, SYSTEM_ACTOR, signer)
        created = bootstrap_admin(db, admin)
        ledger.take_checkpoint(db, signer)
        return created
    finally:
        db.dispose()
