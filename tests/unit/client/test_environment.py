"""Environment and git code-reference capture, on real temporary git repositories."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import pytest

import charter
from charter.client.environment import capture_code_ref, capture_environment


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory git will not search above, so an enclosing repository cannot leak in."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    root = tmp_path / "work"
    root.mkdir()
    return root


@pytest.fixture
def repo(isolated: Path) -> Path:
    git(isolated, "init", "-q")
    (isolated / "pkg").mkdir()
    (isolated / "pkg" / "train.py").write_text("print('train')\n")
    git(isolated, "add", ".")
    git(isolated, "commit", "-q", "-m", "first")
    return isolated


def test_environment_has_python_platform_and_every_distribution() -> None:
    env = capture_environment()
    assert env.python == platform.python_version()
    assert env.platform
    assert env.packages["charter"] == charter.__version__
    for name in ("pydantic", "httpx", "scikit-learn", "numpy"):
        assert name in env.packages, name
    assert all(version for version in env.packages.values())


def test_code_ref_of_a_clean_checkout(repo: Path) -> None:
    ref = capture_code_ref(repo / "pkg" / "train.py")
    assert ref is not None
    assert ref.commit == git(repo, "rev-parse", "HEAD")
    assert ref.dirty is False
    assert ref.path == "pkg/train.py"
    assert ref.repository == str(repo.resolve())


def test_modified_and_untracked_files_make_it_dirty(repo: Path) -> None:
    script = repo / "pkg" / "train.py"
    script.write_text("print('changed')\n")
    ref = capture_code_ref(script)
    assert ref is not None and ref.dirty is True
    git(repo, "checkout", "--", "pkg/train.py")
    assert capture_code_ref(script).dirty is False  # type: ignore[union-attr]
    (repo / "notes.txt").write_text("not committed")
    assert capture_code_ref(script).dirty is True  # type: ignore[union-attr]


def test_remote_url_is_recorded_without_credentials(repo: Path) -> None:
    git(repo, "remote", "add", "origin", "https://alice:s3cret@git.example.com:8443/ml/credit.git")
    ref = capture_code_ref(repo / "pkg" / "train.py")
    assert ref is not None
    assert ref.repository == "https://git.example.com:8443/ml/credit.git"
    assert "s3cret" not in ref.model_dump_json()


def test_repository_without_commits_has_no_commit(isolated: Path) -> None:
    git(isolated, "init", "-q")
    script = isolated / "train.py"
    script.write_text("x = 1\n")
    ref = capture_code_ref(script)
    assert ref is not None
    assert ref.commit is None and ref.dirty is True and ref.path == "train.py"


def test_interactive_session_uses_the_current_directory(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo / "pkg")
    ref = capture_code_ref("<stdin>")
    assert ref is not None
    assert ref.commit == git(repo, "rev-parse", "HEAD") and ref.path is None


def test_outside_a_repository_there_is_no_code_ref(isolated: Path) -> None:
    script = isolated / "train.py"
    script.write_text("x = 1\n")
    assert capture_code_ref(script) is None


def test_without_git_there_is_no_code_ref(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "no-binaries"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert capture_code_ref(repo / "pkg" / "train.py") is None
