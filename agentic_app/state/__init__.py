"""Reflex states: a small base state and one substate per page."""
