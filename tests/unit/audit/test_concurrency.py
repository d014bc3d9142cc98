"""Many writer processes still make one gapless log and one valid tree; so does a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from charter.audit import ledger
from charter.audit.verify import trusted_keys
from charter.store.engine import Database

# Each writer is a separate Python process with its own engine, appending one event per
# transaction, as separate server replicas would.
WRITER = """
import sys
from charter.audit import log
from charter.domain.identity import SYSTEM_ACTOR
from charter.store.engine import Database

url, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
db = Database(url, pool_size=1)
i = 0
while count < 0 or i < count:
    with db.transaction() as session:
        log.append(session, SYSTEM_ACTOR, "test.append", f"writer:{name}", {"i": i})
    i += 1
    if i == 1:
        print("started", flush=True)
db.dispose()
"""

WRITERS, APPENDS = 8, 500


def spawn(url: str, name: str, count: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[3] / "src")}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, url, name, str(count)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.slow
def test_eight_processes_make_one_gapless_valid_log(db: Database, database_url: str) -> None:
    before = ledger.head(db).size
    writers = [spawn(database_url, str(n), APPENDS) for n in range(WRITERS)]
    for writer in writers:
        assert writer.wait(timeout=600) == 0
    head = ledger.head(db)
    assert head.size == before + WRITERS * APPENDS
    with db.rows() as connection:
        seqs = [r[0] for r in connection.exec_driver_sql("SELECT seq FROM audit_events")]
    assert sorted(seqs) == list(range(1, head.size + 1))
    report = ledger.verify_database(db, trusted_keys([]))
    assert report.ok, report.problems
    assert report.size == head.size and report.root == head.root


@pytest.mark.slow
def test_kill_dash_nine_mid_burst_leaves_a_log_that_verifies(
    db: Database, database_url: str
) -> None:
    writers = [spawn(database_url, str(n), -1) for n in range(3)]
    for writer in writers:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "started"
    time.sleep(1.0)
    for writer in writers:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    report = ledger.verify_database(db, trusted_keys([]))
    assert report.ok, report.problems
    assert report.size == ledger.head(db).size > 3
