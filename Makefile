# Two commands for a fresh machine: `make demo` and `make test`. Everything else is set up on demand.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
APT_PACKAGES :=

.PHONY: demo test test-fast lint bench screenshots system-deps venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

# Debian tools the tests drive: the real kubectl (the referee) and a real Prometheus.
# Installed only when missing and only as root; elsewhere the tests that need them skip (and fail under CI=true).
system-deps:
	@need=""; \
	command -v kubectl >/dev/null 2>&1 || need="$$need kubernetes-client"; \
	command -v prometheus >/dev/null 2>&1 || test -x /usr/bin/prometheus || need="$$need prometheus"; \
	if [ -n "$$need" ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing:$$need"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$need; \
	  else \
	    echo "note: missing$$need (not root: tests that need them will skip, or fail under CI=true)"; \
	  fi; \
	fi

lint: $(STAMP)
	$(VENV)/bin/ruff check almtui tests bench
	$(VENV)/bin/lint-imports

test: $(STAMP) system-deps lint
	$(PY) -m pytest -q -p no:cacheprovider

test-fast: $(STAMP)
	$(PY) -m pytest -q -x -m "not kubectl and not prometheus"

demo: $(STAMP) system-deps
	$(VENV)/bin/almtui demo

bench: $(STAMP) system-deps
	$(PY) -m bench.run

screenshots: $(STAMP)
	$(PY) -m tests.make_screenshots

clean:
	rm -rf $(VENV) .pytest_cache snapshot_report.html
