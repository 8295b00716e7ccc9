"""The async DAG executor and what it needs to run nodes (services, notifier, memory guard)."""
