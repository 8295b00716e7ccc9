"""Integration tests of the job queue (real Redis, real worker processes)."""
