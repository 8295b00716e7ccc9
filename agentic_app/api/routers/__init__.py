"""API routers, one per area: auth, workflows, scheduler, monitoring, queue, webhooks, metrics."""
