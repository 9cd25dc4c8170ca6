# Cutout: `make run` to start everything, `make test` to check everything.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
export DJANGO_SETTINGS_MODULE := cutout.settings

.PHONY: help venv deps dev-deps models migrate demo static setup run test lint typecheck pytest eval bench guided lock clean smoke

help:
	@echo "make run    set up (venv, deps, models, db, demo account) and start site + worker"
	@echo "make test   lint, type-check and run the whole test suite"
	@echo "make eval   score the default pipeline on ../shared/evalsets/dev"
	@echo "make bench  speed and memory benchmarks (engine vs rembg, workers, refine calls, API under load, CLI, hostile load)"
	@echo "make guided the guided-cutouts referee against a server of this checkout (~30-60 min)"
	@echo "make smoke  build the container images (podman) and run the compose stack's smoke test"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Stamp files make re-runs fast: pip runs again only when a requirements file changes.
$(VENV)/.deps: requirements.txt | $(PY)
	$(PIP) install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.dev-deps: requirements.txt requirements-dev.txt | $(PY)
	$(PIP) install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(VENV)/.deps $@

venv: $(PY)
deps: $(VENV)/.deps
dev-deps: $(VENV)/.dev-deps

models: deps
	$(PY) manage.py fetch_models

migrate: deps
	$(PY) manage.py migrate --no-input

demo: migrate
	$(PY) manage.py create_demo

static: deps
	$(PY) manage.py collectstatic --no-input --verbosity 0

setup: deps models migrate demo static

# The site (gunicorn; its settings and start-up hook are cutout/gunicorn_conf.py) and one Celery
# worker with its beat scheduler; Ctrl-C stops both.
run: setup
	@echo "Cutout is starting on http://$(HOST):$(PORT)/ (Ctrl-C stops the site and the worker)"
	@trap 'trap - INT TERM EXIT; kill 0 2>/dev/null' INT TERM EXIT; \
	$(VENV)/bin/celery -A cutout worker --beat --concurrency 1 --loglevel INFO \
		--schedule var/celerybeat-schedule & \
	$(VENV)/bin/gunicorn -c python:cutout.gunicorn_conf cutout.wsgi --bind $(HOST):$(PORT) & \
	wait

lint: dev-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: dev-deps
	$(VENV)/bin/mypy .

# Persistent connections would outlive live-server threads and block test-database teardown.
pytest: dev-deps models
	DATABASE_CONN_MAX_AGE=0 $(VENV)/bin/pytest

test: lint typecheck pytest

# The compose stack's smoke test alone, images built first (podman, which .ci/containers installs;
# images made from Debian packages, no registry needed): 10-20 min on a machine that never built
# them, 2-3 min after. `make test` runs the same test when the images are there (.ci/run builds
# them first) and skips it otherwise, except in CI, where a missing stack fails.
smoke: dev-deps
	bash .ci/containers
	eval "$$(bash .ci/containers --env)" && CI=true $(VENV)/bin/pytest -m containers \
		-p no:randomly tests/foundation/test_container_stack.py

eval: deps models
	$(PY) -m cutout.tools.eval

bench: dev-deps models
	$(PY) -m cutout.tools.bench
	$(PY) -m cutout.tools.bench_speed
	$(PY) -m cutout.tools.worker_bench
	$(PY) -m cutout.tools.bench_refine
	$(PY) -m cutout.tools.harden_bench
	$(PY) -m cutout.tools.harden_upload
	$(PY) -m cutout.tools.load_bench
	$(PY) -m cutout.tools.cli_bench

# ../shared/evalsets/guided.py against a server started here (a key with the credits it needs).
guided: deps models migrate
	nice -n 10 $(PY) -m cutout.tools.guided

# Regenerate the locked sets (with hashes) from pyproject.toml's direct dependencies. Pins that
# still satisfy them are kept; `make lock UPGRADE="--upgrade-package celery"` moves one on.
LOCK_VENV := var/lock-venv
LOCK_FLAGS := --quiet --generate-hashes --no-emit-index-url --no-emit-find-links --strip-extras
lock:
	@test -x $(LOCK_VENV)/bin/pip-compile || { $(PYTHON) -m venv $(LOCK_VENV) && \
		$(LOCK_VENV)/bin/pip install --quiet "pip-tools>=7.4,<8"; }
	$(LOCK_VENV)/bin/pip-compile $(LOCK_FLAGS) $(UPGRADE) -o requirements.txt pyproject.toml
	$(LOCK_VENV)/bin/pip-compile $(LOCK_FLAGS) $(UPGRADE) --extra dev -c requirements.txt \
		-o requirements-dev.txt pyproject.toml

clean:
	rm -rf $(VENV) staticfiles .mypy_cache .ruff_cache .pytest_cache tests/artifacts
