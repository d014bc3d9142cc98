"""Capture where a model was made: the Python environment and the git commit of the code."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from charter.domain.common import CodeRef, Environment

GIT_TIMEOUT = 10.0
_MAX_NAME, _MAX_VERSION, _MAX_TEXT = 256, 128, 512


def installed_packages() -> dict[str, str]:
    """Every installed distribution, name -> version, as the running interpreter sees them."""
    packages: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"] if dist.metadata else None
        version = dist.version
        if not name or not version or len(name) > _MAX_NAME or len(version) > _MAX_VERSION:
            continue
        # The first one found on sys.path is the one `import` would use; later ones are shadowed.
        packages.setdefault(name, version)
    return dict(sorted(packages.items(), key=lambda item: item[0].lower()))


def capture_environment() -> Environment:
    """Python version, platform and every installed distribution with its version."""
    return Environment(
        python=platform.python_version(),
        platform=platform.platform()[:_MAX_TEXT],
        packages=installed_packages(),
    )


def _git(cwd: Path, *args: str) -> str | None:
    """Output of a git command, or None if git is missing, slow, or says no."""
    env = {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",
        # `git status` may otherwise rewrite the index and race with the user's own git.
        "GIT_OPTIONAL_LOCKS": "0",
        "LC_ALL": "C",
    }
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            env=env,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout


def _without_credentials(url: str) -> str:
    """A remote URL with any user:password@ removed, so tokens never reach the registry."""
    if "://" not in url:
        return url  # scp-like 'git@host:path' carries a user name, never a secret
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _repository(top: Path) -> str:
    remotes = (_git(top, "remote") or "").split()
    remote = "origin" if "origin" in remotes else (remotes[0] if remotes else None)
    if remote is not None:
        url = (_git(top, "remote", "get-url", remote) or "").strip()
        if url:
            return _without_credentials(url)[:_MAX_TEXT]
    return str(top)[:_MAX_TEXT]


def _script_of_caller() -> Path | None:
    main = sys.modules.get("__main__")
    filename = getattr(main, "__file__", None)
    return Path(filename) if filename else None


def capture_code_ref(script: Path | str | None = None) -> CodeRef | None:
    """The git repository, commit and dirty flag of the code that is running.

    `script` is the file whose repository counts (default: the `__main__` script). When it
    is not a file on disk (an interactive session, a notebook), the current directory's
    repository counts instead. Returns None outside a repository or when git is missing.
    """
    path = Path(script) if script is not None else _script_of_caller()
    if path is not None and path.is_file():
        path = path.resolve()
        start = path.parent
    else:
        path, start = None, Path.cwd()
    top_out = _git(start, "rev-parse", "--show-toplevel")
    if top_out is None or not top_out.strip():
        return None
    top = Path(top_out.strip()).resolve()
    head = _git(top, "rev-parse", "--verify", "--quiet", "HEAD")
    commit = head.strip() if head else None
    status = _git(top, "status", "--porcelain")
    relative = None
    if path is not None:
        try:
            relative = path.relative_to(top).as_posix()[:_MAX_TEXT]
        except ValueError:
            relative = None
    return CodeRef(
        repository=_repository(top),
        commit=commit or None,
        # Unknown status counts as dirty: claiming clean code we could not check would lie.
        dirty=status is None or bool(status.strip()),
        path=relative,
    )
