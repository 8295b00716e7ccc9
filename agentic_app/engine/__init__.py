"""Runs things: the DAG executor, event sinks, memory guard, queue, scheduler. Never imports
reflex."""
