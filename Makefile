# agentic_app — two commands: `make run` (the app) and `make test` (the test suite).
SHELL := /bin/bash
export PATH := $(CURDIR)/.tools/bun/bin:$(CURDIR)/.venv/bin:$(PATH)
export REFLEX_TELEMETRY_ENABLED := false
export REFLEX_CHECK_LATEST_VERSION := false

.PHONY: setup run test test-setup lint bench stop clean

setup:  ## venv + requirements, bun, a Redis that answers
	@scripts/setup.sh

run:  ## set up, then `reflex run` (UI :3000, API :8000, workers + scheduler)
	@SETUP_REDIS=0 scripts/setup.sh
	reflex run

test-setup:  ## setup plus test-only needs (Debian chromium, PostgreSQL up)
	@SETUP_REDIS=0 scripts/setup.sh
	@scripts/test_setup.sh

test: test-setup  ## run the whole test suite
	@scripts/run_tests.sh

lint:
	ruff check agentic_app tests bench scripts alembic rxconfig.py

bench:  ## the benchmarks (figures in docs/PERFORMANCE.md)
	.venv/bin/python bench/queue_bench.py --quick
	.venv/bin/python bench/trigger_bench.py --quick

stop:  ## stop a private Redis that `make setup` started in .data/
	@if [ -f .data/redis.pid ]; then kill "$$(cat .data/redis.pid)" 2>/dev/null && echo "stopped private Redis"; rm -f .data/redis.pid; fi

clean: stop
	rm -rf .web .states .data
