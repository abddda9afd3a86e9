# One entry point. `make demo` runs the demo, `make test` runs the whole test suite; each
# creates its virtualenv and finds or starts the services it needs.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Django 6 needs Python 3.12+; `make test-django6` uses the first one found.
PYTHON_DJANGO6 ?= $(or $(shell scripts/find-python.sh 3.13),$(shell scripts/find-python.sh 3.12))
PG_URL ?= postgres://postgres:postgres@127.0.0.1:5432/postgres
# scripts/ensure-services.sh finds or starts the servers of REDIS_URL and DATABASE_URL; the tests
# use the Redis of BATCHQUEUE_TEST_REDIS and the PostgreSQL of PG_URL.
TEST_SERVICES := REDIS_URL="$${BATCHQUEUE_TEST_REDIS:-$${REDIS_URL:-redis://127.0.0.1:6379/0}}" DATABASE_URL="$(PG_URL)" scripts/ensure-services.sh

.PHONY: help venv demo test test-sqlite test-postgres test-redis-storage test-django6 test-lowest lint docs bench bench-celery stress clean

help:
	@echo "make demo          run the demo (map-reduce, chain, saga) on real workers"
	@echo "make test          the test suite on SQLite, PostgreSQL and Redis storage"
	@echo "make test-redis-storage  only the suite with batch state in Redis (STORAGE = \"redis\")"
	@echo "make test-django6  the suite again on Django 6 and PostgreSQL (needs Python 3.12+)"
	@echo "make test-lowest   the suite on the lowest supported rq, django-rq, Django, DRF, redis"
	@echo "make lint          ruff check, ruff format --check, mypy and makemigrations --check"
	@echo "make docs          build the documentation site strictly (warnings are errors) into site/"
	@echo "make bench         benchmarks against raw RQ"
	@echo "make bench-celery  ours against raw RQ and Celery, plots into docs/img/"

# The package with its REST API extra, and the PEP 735 `dev` dependency group (pip >= 25.1).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=25.1"
	$(PY) -m pip install -q -e ".[api]" --group dev
	touch $@

venv: $(VENV)/.installed

# The docs site's tools: the PEP 735 `docs` group, in a step of its own.
$(VENV)/.docs-installed: pyproject.toml $(VENV)/.installed
	$(PY) -m pip install -q --group docs
	touch $@

demo: venv
	@scripts/ensure-services.sh redis || echo "demo: no Redis could be started; the demo will use its embedded substitute"
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py demo $(DEMO_ARGS)

test: venv
	$(TEST_SERVICES) redis postgres
	@scripts/ensure-chromium.sh || echo "test: no Chromium; the admin's browser tests will be skipped (CI sets BATCHQUEUE_REQUIRE_BROWSER=1 and fails them instead)"
	$(MAKE) --no-print-directory test-sqlite test-postgres test-redis-storage

test-sqlite: venv
	BATCHQUEUE_TEST_DB=sqlite $(PY) -m pytest $(PYTEST_ARGS)

test-postgres: venv
	BATCHQUEUE_TEST_DB=postgres DATABASE_URL=$(PG_URL) $(PY) -m pytest $(PYTEST_ARGS)

# The suite with batch state in Redis (STORAGE = "redis") on SQLite: tests marked sql_only and
# the SQL half of the tests that run on both storages are left to test-sqlite/test-postgres.
test-redis-storage: venv
	$(TEST_SERVICES) redis
	BATCHQUEUE_TEST_STORAGE=redis BATCHQUEUE_TEST_DB=sqlite $(PY) -m pytest $(PYTEST_ARGS)

test-django6:
ifeq ($(PYTHON_DJANGO6),)
	@echo "test-django6: no Python 3.12+ found (install one, e.g. pyenv install 3.12); the version matrix does not skip" >&2
	@exit 1
else
	$(TEST_SERVICES) redis postgres
	$(MAKE) --no-print-directory VENV=.venv-django6 PYTHON=$(PYTHON_DJANGO6) venv
	.venv-django6/bin/python -m pip install -q "django>=6.0,<7"
	.venv-django6/bin/python -m django --version
	$(MAKE) --no-print-directory VENV=.venv-django6 test-postgres
endif

# The lowest versions pyproject.toml admits; the suite must pass on them too.
LOWEST := "rq==2.0.*" "django-rq==3.0.*" "Django==5.2.*" "djangorestframework==3.15.*" "redis==5.0.*"

test-lowest:
	$(TEST_SERVICES) redis
	$(MAKE) --no-print-directory VENV=.venv-lowest venv
	.venv-lowest/bin/python -m pip install -q $(LOWEST)
	.venv-lowest/bin/python -c "import rq, django_rq, django, rest_framework, redis; print('lowest:', 'rq', rq.__version__, 'django', django.__version__, 'drf', rest_framework.__version__, 'redis', redis.__version__)"
	$(MAKE) --no-print-directory VENV=.venv-lowest test-sqlite

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	DJANGO_SETTINGS_MODULE=tests.settings $(PY) -m django makemigrations --check --dry-run

docs: $(VENV)/.docs-installed
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

bench: venv
	REDIS_URL="$${BENCH_REDIS:-$${REDIS_URL:-redis://127.0.0.1:6379/0}}" scripts/ensure-services.sh redis postgres
	$(PY) bench/run.py

# Redis DB 9 (RQ and ours) and 10 (Celery) unless BENCH_REDIS / BENCH_CELERY_URL say otherwise.
bench-celery: venv
	$(PY) -m pip install -q -e ".[api,bench]"
	REDIS_URL="$${BENCH_REDIS:-redis://127.0.0.1:6379/9}" scripts/ensure-services.sh redis postgres
	$(PY) bench/compare.py $(BENCH_ARGS)
	$(PY) bench/plot.py

clean:
	rm -rf $(VENV) .venv-django6 .venv-lowest .local site
