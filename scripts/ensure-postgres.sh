#!/usr/bin/env bash
# Make sure PostgreSQL server binaries (initdb, postgres) are installed; install them via apt if not.
#
# Quiet and a no-op when the binaries are already present. The test suite starts its own
# throwaway server from these binaries (tests/support/pgcluster.py), so any Debian-default
# cluster that the package installation starts is stopped and kept from starting at boot.
#
# Set CHARTER_PG_BINDIR to point at a specific server bin directory.
set -euo pipefail

log() { printf 'ensure-postgres: %s\n' "$*" >&2; }

is_server_bindir() {
    [[ -n "$1" && -x "$1/initdb" && -x "$1/postgres" ]]
}

find_bindir() {
    local dir
    if [[ -n "${CHARTER_PG_BINDIR:-}" ]] && is_server_bindir "$CHARTER_PG_BINDIR"; then
        printf '%s\n' "$CHARTER_PG_BINDIR"
        return 0
    fi
    if command -v pg_config >/dev/null 2>&1; then
        dir="$(pg_config --bindir 2>/dev/null || true)"
        if is_server_bindir "$dir"; then
            printf '%s\n' "$dir"
            return 0
        fi
    fi
    # Newest version first.
    while IFS= read -r dir; do
        if is_server_bindir "$dir"; then
            printf '%s\n' "$dir"
            return 0
        fi
    done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -t/ -k5,5 -V -r || true)
    if command -v initdb >/dev/null 2>&1; then
        dir="$(dirname "$(readlink -f "$(command -v initdb)")")"
        if is_server_bindir "$dir"; then
            printf '%s\n' "$dir"
            return 0
        fi
    fi
    return 1
}

if find_bindir >/dev/null; then
    exit 0
fi

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        log "PostgreSQL server binaries (initdb, postgres) were not found, and installing them"
        log "needs root. Run as root: apt-get install --no-install-recommends postgresql"
        exit 1
    fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
    log "PostgreSQL server binaries were not found and apt-get is unavailable."
    log "Install the PostgreSQL server (initdb, postgres) and/or set CHARTER_PG_BINDIR."
    exit 1
fi

log "PostgreSQL server binaries not found; installing the 'postgresql' package with apt-get"
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends postgresql

# The package may have created and started the default cluster (e.g. 15/main on port 5432).
# Nothing was installed before, so anything running now was started by the installation:
# stop it and keep it from starting at boot. Failures here are harmless and ignored.
if command -v pg_lsclusters >/dev/null 2>&1; then
    while read -r version cluster _port status _rest; do
        if [[ "$status" == online* ]]; then
            log "stopping auto-started cluster $version/$cluster"
            "${SUDO[@]}" pg_ctlcluster "$version" "$cluster" stop >/dev/null 2>&1 || true
        fi
    done < <(pg_lsclusters --no-header 2>/dev/null || true)
fi
if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
    "${SUDO[@]}" systemctl disable --now postgresql >/dev/null 2>&1 || true
else
    "${SUDO[@]}" service postgresql stop >/dev/null 2>&1 || true
    if command -v update-rc.d >/dev/null 2>&1; then
        "${SUDO[@]}" update-rc.d postgresql disable >/dev/null 2>&1 || true
    fi
fi

if ! bindir="$(find_bindir)"; then
    log "installed 'postgresql' but still cannot find initdb/postgres; giving up"
    exit 1
fi
log "PostgreSQL server binaries are in $bindir"
