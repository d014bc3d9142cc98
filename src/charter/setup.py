"""Making a Charter home: directories, the migrated database and the first admin."""

from __future__ import annotations

from pathlib import Path

from charter.access.principals import bootstrap_admin
from charter.domain.identity import IssuedToken, Principal
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
    """Create the home, migrate the database and create the first admin with a token."""
    home = Path(settings.home)
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    (home / "tmp").mkdir(exist_ok=True)
    if settings.artifact_url is None:
        (home / "artifacts").mkdir(exist_ok=True)
    upgrade_database(settings)
    db = Database(settings.resolved_database_url, pool_size=1)
    try:
        return bootstrap_admin(db, admin)
    finally:
        db.dispose()
