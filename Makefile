# One way to run things: README and CI call these targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Local runs only: production sets its own key (settings refuse to start without one when debug is off).
export DJANGO_SECRET_KEY ?= local-only-insecure-key-change-me
PYTEST_ARGS ?=

.PHONY: install demo test lint check-migrations reliability bench run superuser qcluster clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/python manage.py migrate --verbosity 0
	$(BIN)/python manage.py createcachetable
	$(BIN)/python manage.py seed_demo_data --reset
	$(BIN)/python manage.py sync_schedules
	$(BIN)/python manage.py run_overdue_check
	$(BIN)/python manage.py show_notifications --limit 5

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

reliability: install
	RELIABILITY_SIZE=full $(BIN)/pytest tests/reliability -m reliability -s $(PYTEST_ARGS)

bench: install
	$(BIN)/python benchmarks/overdue_check.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint Dockerfile

check-migrations: install
	$(BIN)/python manage.py makemigrations --check --dry-run

run: install
	DJANGO_DEBUG=1 $(BIN)/python manage.py runserver

superuser: install
	$(BIN)/python manage.py createsuperuser

qcluster: install
	$(BIN)/python manage.py qcluster

clean:
	rm -rf $(VENV) db.sqlite3 .pytest_cache .ruff_cache .hypothesis
