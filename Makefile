# One way to run things: README and CI call these targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

# Local runs only: a random key made once per clone into a file git and docker ignore. Production sets
# its own (settings refuse to start without one, or with a published placeholder, when debug is off).
LOCAL_SECRET_KEY_FILE := .local-secret-key
ifndef DJANGO_SECRET_KEY
DJANGO_SECRET_KEY := $(shell test -s $(LOCAL_SECRET_KEY_FILE) || (umask 077 && $(PYTHON) -c \
	'import secrets; print(secrets.token_urlsafe(50))' > $(LOCAL_SECRET_KEY_FILE)); cat $(LOCAL_SECRET_KEY_FILE))
endif
export DJANGO_SECRET_KEY

# The demo and the local look-around targets (demo, run, superuser, qcluster) use their own database,
# the embedded SQLite file, whatever DATABASE_URL the environment or .env names: a demo reset never
# lands on another database by accident. `make demo DEMO_DATABASE_URL=postgres://…` to choose one.
# Likewise their mail goes into sent-mail/ whatever EMAIL_URL names: the demo's reminders never reach
# a real mail server (DEMO_EMAIL_URL to choose).
DEMO_DATABASE_URL ?= sqlite:///$(CURDIR)/db.sqlite3
DEMO_EMAIL_URL ?= filemail:///sent-mail
DEMO_MANAGE = DATABASE_URL='$(DEMO_DATABASE_URL)' EMAIL_URL='$(DEMO_EMAIL_URL)' $(BIN)/python manage.py

# `make superuser` without a terminal (CI, a script, docker): these three, for createsuperuser --noinput.
SUPERUSER_VARS := DJANGO_SUPERUSER_USERNAME DJANGO_SUPERUSER_EMAIL DJANGO_SUPERUSER_PASSWORD
SUPERUSER_MISSING := $(strip $(foreach name,$(SUPERUSER_VARS),$(if $(value $(name)),,$(name))))

WEBHOOK_DEMO_PORT ?= 8765

.PHONY: install demo webhook-demo test lint check-migrations reliability bench bench-admin bench-desk bench-delivery bench-import bench-bulk-api bench-api-load bench-all run superuser qcluster clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(DEMO_MANAGE) migrate --verbosity 0
	$(DEMO_MANAGE) createcachetable
	$(DEMO_MANAGE) seed_demo_data --reset
	$(DEMO_MANAGE) sync_schedules
	$(DEMO_MANAGE) run_overdue_check
	$(DEMO_MANAGE) send_reminders
	$(DEMO_MANAGE) show_notifications --limit 5 --sample

# A run's run.finished, signed, reaching a receiver on this machine that verifies it (docs/webhooks.md).
webhook-demo: install
	$(DEMO_MANAGE) migrate --verbosity 0
	$(DEMO_MANAGE) createcachetable
	$(DEMO_MANAGE) seed_demo_data --reset
	@set -e; export WEBHOOK_ALLOW_PRIVATE=on; \
	secret=$$($(DEMO_MANAGE) add_webhook_endpoint http://127.0.0.1:$(WEBHOOK_DEMO_PORT)/hooks \
		--event run.finished --replace --description "make webhook-demo" | sed -n 's/^Signing secret: //p'); \
	heard=$$(mktemp); \
	$(DEMO_MANAGE) receive_webhooks --secret "$$secret" --port $(WEBHOOK_DEMO_PORT) --count 1 --timeout 60 \
		> "$$heard" 2>&1 & receiver=$$!; \
	until grep -q Listening "$$heard" || ! kill -0 $$receiver 2>/dev/null; do sleep 0.2; done; \
	$(DEMO_MANAGE) run_overdue_check; \
	$(DEMO_MANAGE) send_webhooks; \
	status=0; wait $$receiver || status=$$?; cat "$$heard"; rm -f "$$heard"; exit $$status

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

reliability: install
	RELIABILITY_SIZE=full $(BIN)/pytest tests/reliability -m reliability -s $(PYTEST_ARGS)

bench: install
	$(BIN)/python benchmarks/overdue_check.py $(BENCH_ARGS)

bench-admin: install
	$(BIN)/python benchmarks/reminders_admin.py $(BENCH_ARGS)

bench-desk: install
	$(BIN)/python benchmarks/desk.py $(BENCH_ARGS)

bench-delivery: install
	$(BIN)/python benchmarks/delivery.py $(BENCH_ARGS)

bench-import: install
	$(BIN)/python benchmarks/import_invoices.py $(BENCH_ARGS)

bench-bulk-api: install
	$(BIN)/python benchmarks/bulk_api.py $(BENCH_ARGS)

bench-api-load: install
	$(BIN)/python benchmarks/api_load.py $(BENCH_ARGS)

bench-all: install
	$(BIN)/python benchmarks/bench_all.py $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint Dockerfile
	$(BIN)/lint-imports
	$(BIN)/mypy
	@if [ -f ../shared/SPEC.md ] && ! cmp -s docs/SPEC.md ../shared/SPEC.md; then \
		echo "warning: docs/SPEC.md differs from ../shared/SPEC.md; bring it in step."; fi

check-migrations: install
	$(BIN)/python manage.py makemigrations --check --dry-run

run: install
	DJANGO_DEBUG=1 $(DEMO_MANAGE) runserver

superuser: install
ifeq ($(SUPERUSER_MISSING),)
	$(DEMO_MANAGE) createsuperuser --noinput
else ifeq ($(SUPERUSER_MISSING),$(SUPERUSER_VARS))
	@test -t 0 || { echo "make superuser: no terminal to ask on; set $(SUPERUSER_VARS) to create the user without questions." >&2; exit 2; }
	$(DEMO_MANAGE) createsuperuser
else
	@echo "make superuser: $(SUPERUSER_MISSING) not set; set all of $(SUPERUSER_VARS), or none of them to be asked on a terminal." >&2; exit 2
endif

qcluster: install
	$(DEMO_MANAGE) qcluster

clean:
	rm -rf $(VENV) db.sqlite3 .pytest_cache .ruff_cache .hypothesis
