"""Tests of agentic_app.engine."""
