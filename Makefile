# Every entry point of the workshop. The first target you run creates .venv and installs
# requirements.txt; it installs again whenever requirements.txt changes. When a wheelhouse/
# folder is there (make wheelhouse), it installs from that folder only, without the network.

PYTHON ?= python3
PORT ?= 8000
# The two servers of make run-step4-redis and make run-step4-proxy.
PORT1 ?= 8001
PORT2 ?= 8002
# nginx's ports in make run-step4-proxy: HTTPS, and plain HTTP that redirects to it.
PROXY_PORT ?= 8443
HTTP_PORT ?= 8080
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
INSTALLED := $(VENV)/.installed
WHEELHOUSE ?= wheelhouse
OFFLINE := $(if $(wildcard $(WHEELHOUSE)/*),--no-index --find-links $(WHEELHOUSE),)
STEPS := step1_http step2_websocket step3_channel_layer step4_production
step_dir = $(word $(1),$(STEPS))

.PHONY: help setup run run-step1 run-step2 run-step3 run-step4 run-step4-redis run-step4-proxy \
	test test-step1 test-step2 test-step3 test-step4 test-repo check diff-1-2 diff-2-3 diff-3-4 \
	diffs superusers bench bench-full bench-page lint format clean wheelhouse

help:
	@echo "make run            the finished chat (step 4) on http://127.0.0.1:$(PORT)/"
	@echo "make run-stepN      step N (1 to 4) on http://127.0.0.1:$(PORT)/"
	@echo "make run-step4-redis  two step 4 servers (ports $(PORT1), $(PORT2)) sharing one Redis"
	@echo "make run-step4-proxy  the same behind nginx on https://127.0.0.1:$(PROXY_PORT)/"
	@echo "make test           every step's tests and the repository's own"
	@echo "make test-stepN     one step's tests"
	@echo "make diff-1-2       the lesson of step 2 (diff-2-3, diff-3-4: of steps 3 and 4; ALL=1: tests too)"
	@echo "make check STEP=N DIR=path  step N's tests against your own project in path"
	@echo "make superusers     the workshop users, in every step's database"
	@echo "make bench          the benchmark, quick; writes bench/results/ (bench-full: the long run)"
	@echo "make bench-page     docs/performance.md's tables from the latest full run (RUN=file.json)"
	@echo "make lint           ruff check and format check"
	@echo "make wheelhouse     download every package into $(WHEELHOUSE)/, for installing offline"
	@echo "make clean          remove the virtualenv, databases and caches"

$(INSTALLED): requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(OFFLINE) -r requirements.txt
	@touch $@

setup: $(INSTALLED)

# For a room with bad Wi-Fi: every package of requirements.txt as files, made beforehand on a
# machine like the attendees' (wheels are built per system and Python version). Copied into a
# clone, the folder makes the first make install from it, or by hand:
#   python3 -m venv .venv && .venv/bin/pip install --no-index --find-links wheelhouse -r requirements.txt
wheelhouse: $(INSTALLED)
	$(BIN)/python -m pip download --disable-pip-version-check -r requirements.txt -d $(WHEELHOUSE)

run: run-step4

run-step1 run-step2 run-step3 run-step4: run-step%: $(INSTALLED)
	cd $(call step_dir,$*) && $(BIN)/python manage.py migrate --noinput
	cd $(call step_dir,$*) && $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

# Two step 4 servers sharing one local Redis (or REDIS_URL); Ctrl-C stops all three.
# CHANNEL_LAYER=redis-pubsub picks the pub/sub layer.
run-step4-redis: $(INSTALLED)
	@$(BIN)/python scripts/run_step4_redis.py --ports $(PORT1) $(PORT2)

# The same two servers, running the production command behind nginx with TLS on
# https://127.0.0.1:$(PROXY_PORT)/; Ctrl-C stops all. POSTGRES=1 runs it on a PostgreSQL made
# for the run, DATABASE_URL=postgres://... on yours.
run-step4-proxy: $(INSTALLED)
	@$(BIN)/python scripts/run_step4_proxy.py --proxy-port $(PROXY_PORT) --http-port $(HTTP_PORT) \
		--ports $(PORT1) $(PORT2) $(if $(POSTGRES),--postgres,)

test-step1 test-step2 test-step3 test-step4: test-step%: $(INSTALLED)
	cd $(call step_dir,$*) && $(BIN)/python -m pytest

test-repo: $(INSTALLED)
	$(BIN)/python -m pytest

# One pytest process per step (a settings module is process-wide). Every suite runs even when
# an earlier one fails, and the target fails if any of them did.
test: $(INSTALLED)
	@failed=""; \
	for target in test-step1 test-step2 test-step3 test-step4 test-repo; do \
		$(MAKE) --no-print-directory $$target || failed="$$failed $$target"; \
	done; \
	if [ -n "$$failed" ]; then echo "FAILED:$$failed"; exit 1; fi; \
	echo "All test suites passed."

# Step N's own tests against a project you built yourself: make check STEP=1 DIR=../my-chat
# (ARGS passes extra pytest arguments, e.g. ARGS="-k pages").
check: $(INSTALLED)
	@$(BIN)/python scripts/check_project.py "$(STEP)" "$(DIR)" $(ARGS)

# The lesson of a step is what changed since the one before it: the code only, without tests
# and generated migrations (ALL=1 shows those too).
DIFF_FLAGS := $(if $(ALL),--all,)

diff-1-2:
	@$(PYTHON) scripts/lesson_diff.py $(DIFF_FLAGS) step1_http step2_websocket

diff-2-3:
	@$(PYTHON) scripts/lesson_diff.py $(DIFF_FLAGS) step2_websocket step3_channel_layer

diff-3-4:
	@$(PYTHON) scripts/lesson_diff.py $(DIFF_FLAGS) step3_channel_layer step4_production

# Regenerate the committed lesson diffs that the guide links to (each written whole, or not at all).
diffs:
	$(PYTHON) scripts/lesson_diff.py --write docs/diffs

superusers: $(INSTALLED)
	@password=$$($(BIN)/python -c "import secrets; print(secrets.token_urlsafe(9))"); created=""; \
	for dir in $(STEPS); do \
		output=$$(cd $$dir && $(BIN)/python manage.py migrate --noinput >/dev/null && \
			$(BIN)/python manage.py create_workshop_users --password="$$password") || exit 1; \
		echo "$$dir: $$output"; \
		case "$$output" in *Created*) created=yes;; esac; \
	done; \
	if [ -n "$$created" ]; then \
		echo "Password for the new users: $$password (shown once: write it down)"; \
	else \
		echo "No user was created, so no new password. To set one:"; \
		echo "  cd step3_channel_layer && ../.venv/bin/python manage.py changepassword alice"; \
	fi

# The benchmark (docs/performance.md): prints the tables and writes bench/results/<date>.json and
# a PNG plot, nothing else. bench-page puts a saved full run's tables into the page, whose prose
# is written by hand.
bench: $(INSTALLED)
	$(BIN)/python -m bench

bench-full: $(INSTALLED)
	$(BIN)/python -m bench --full

bench-page: $(INSTALLED)
	$(BIN)/python -m bench.page $(RUN)

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .ruff_cache .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	rm -f */db.sqlite3 */db.sqlite3-journal */db.sqlite3-wal */db.sqlite3-shm */test_db.sqlite3*
