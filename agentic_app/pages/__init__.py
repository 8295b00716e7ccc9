"""Reflex pages: login, workflows, scheduler, queue, monitor."""
