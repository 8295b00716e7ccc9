"""Tests of the REST API, its WebSocket and its security rules."""
