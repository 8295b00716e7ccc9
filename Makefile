# agentic_app — two commands: `make run` (the app) and `make test` (the test suite).
SHELL := /bin/bash
export PATH := $(CURDIR)/.tools/bun/bin:$(CURDIR)/.venv/bin:$(PATH)
export REFLEX_TELEMETRY_ENABLED := false
export REFLEX_CHECK_LATEST_VERSION := false

.PHONY: setup run test test-setup lint bench clean

setup:  ## venv + requirements, bun, a Redis that answers
	@scripts/setup.sh

run: setup  ## set up, then `reflex run` (UI :3000, API :8000, workers + scheduler)
	reflex run

test-setup: setup  ## setup plus test-only needs (Debian chromium, PostgreSQL/Redis up)
	@scripts/test_setup.sh

test: test-setup  ## run the whole test suite
	@scripts/run_tests.sh

lint:
	ruff check agentic_app tests bench scripts alembic rxconfig.py

clean:
	rm -rf .web .states .data
