# orbit360: `make demo` runs the main job on a built-in example, `make test` runs the tests.
# Both set themselves up: system packages (apt-get, as root), then .venv at the repo root.

VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
BENCHSTAMP := $(VENV)/.installed-bench
SYSSTAMP := $(VENV)/.system-packages

.PHONY: demo test setup system-packages bench clean

demo: setup
	$(VENV)/bin/orbit360 demo -o orbit360-demo

test: setup system-packages
	$(PY) -m pytest -q -p no:cacheprovider tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests ran" >&2; exit 1; fi; exit $$rc

setup: $(STAMP)

$(PY):
	python3 -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

# Debian's chromium for the viewer's browser tests (never `playwright install`).
system-packages: $(SYSSTAMP)

$(SYSSTAMP): | $(PY)
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; \
	  else echo "warning: /usr/bin/chromium missing; browser tests will be skipped" >&2; fi; \
	fi
	@touch $@

bench: $(BENCHSTAMP)
	$(PY) bench/run_all.py

$(BENCHSTAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[bench]'
	@touch $@

clean:
	rm -rf $(VENV) orbit360-demo build src/*.egg-info
