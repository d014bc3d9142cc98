"""`make demo` end to end: scripts/demo.py as a user runs it, checked by its output."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_runs_and_prints_lineage_manifest_and_next_steps(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path), "COLUMNS": "200"}
    env.pop("CHARTER_TOKEN", None)
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--cleanup"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    name = "breast-cancer-classifier"
    for line in (
        f"registered model:{name}@1",
        "◀ trained_on: dataset breast-cancer-train@1",
        "◀ evaluated_on: dataset breast-cancer-test@1",
        "◀ produced: run 1",
        "◀ input: dataset breast-cancer-train@1",
        "ok  model.skops",
        "ok  model.onnx",
        f"versions show {name} 1",
        f"lineage show model:{name}@1",
        "demo finished",
    ):
        assert line in out, f"missing {line!r} in:\n{out}"
    digests = re.findall(r"manifest digest:? ([0-9a-f]{64})", out)
    assert len(digests) == 2 and digests[0] == digests[1], out
    assert re.search(r"accuracy 0\.9\d+, roc_auc 0\.9\d+", out), out
    assert re.search(r"export CHARTER_TOKEN=chr_\S+", out)
    assert re.search(r"export CHARTER_URL=http://127\.0\.0\.1:\d+", out)
    assert "server (pid" in out and "stopped" in out
    # --cleanup removed the home, and log_model its staging directory.
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("charter-")]


@pytest.mark.slow
def test_demo_fails_loudly_when_its_server_cannot_start(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "demo.py"), "--cleanup", "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, "TMPDIR": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "demo failed" in done.stdout and "server exited early" in done.stdout
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("charter-")]
