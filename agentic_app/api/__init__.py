"""REST and WebSocket API (FastAPI), mounted into the Reflex backend under /api/agentic."""
