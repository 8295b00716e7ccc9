"""The facade shared by the REST API, the Reflex states and the CLI (no Reflex, no HTTP)."""
