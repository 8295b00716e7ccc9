"""Node types (one module per family) and the registry they register into (``nodes.base``)."""
