# Developer entry points: venv setup, demo, tests (SQLite + throwaway PostgreSQL), bench, lint.

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?= -n 2
LINT_PATHS := src tests bench scripts

.PHONY: all venv demo test bench bench-audit bench-policy bench-evidence lint clean

all: test

venv: $(STAMP)

# (Re)create the venv when pyproject.toml changes. Debian's python3 lacks ensurepip unless
# python3-venv (or python3.X-venv) is installed, so install it with apt-get and retry.
$(STAMP): pyproject.toml
	@set -e; \
	if ! $(VPY) -m pip --version >/dev/null 2>&1; then \
	  if ! $(PYTHON) -m venv $(VENV); then \
	    if $(PYTHON) -c 'import ensurepip' >/dev/null 2>&1; then \
	      echo "error: '$(PYTHON) -m venv $(VENV)' failed" >&2; exit 1; \
	    fi; \
	    echo "ensurepip is missing; installing the python venv package with apt-get" >&2; \
	    if [ "$$(id -u)" -eq 0 ]; then SUDO=; \
	    elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; \
	    else echo "error: need root (or sudo) to apt-get install python3-venv" >&2; exit 1; fi; \
	    ver=$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	    $$SUDO apt-get update -q; \
	    $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	      --no-install-recommends "python$$ver-venv" \
	    || $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	      --no-install-recommends python3-venv; \
	    $(PYTHON) -m venv $(VENV); \
	  fi; \
	fi
	$(VPY) -m pip install --upgrade pip
	$(VPY) -m pip install -e '.[dev]'
	touch $@

demo: $(STAMP)
	$(VPY) scripts/demo.py

test: $(STAMP)
	bash scripts/ensure-postgres.sh
	$(VPY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	bash scripts/ensure-postgres.sh
	$(VPY) bench/run.py

bench-audit: $(STAMP)
	bash scripts/ensure-postgres.sh
	$(VPY) bench/audit_log.py

bench-policy: $(STAMP)
	$(VPY) bench/policy_decisions.py

bench-evidence: $(STAMP)
	$(VPY) bench/evidence.py

lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy --strict src

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist src/*.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
