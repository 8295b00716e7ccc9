"""Persistence: SQLModel tables, engine/session handling and repository functions."""
