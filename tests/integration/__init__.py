"""Integration tests (real database files, Redis, worker processes)."""
