"""Importing this module registers every built-in node type in ``default_registry``."""

from agentic_app.nodes import (  # noqa: F401  (imported for their registrations)
    indicator_nodes,
    logic,
    market_data,
    notify,
    orders,
    risk,
    triggers,
    utility,
)
from agentic_app.nodes.base import default_registry

registry = default_registry
"""The registry holding every built-in node type."""
