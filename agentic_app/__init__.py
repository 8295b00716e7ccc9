"""agentic_app: schedule, queue, run and live-monitor automated trading workflows."""
