"""Stateless UI pieces composed by the pages."""
