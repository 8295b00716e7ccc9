"""Brokers: the ``Broker`` protocol (base.py) and the default persisted paper broker (paper.py)."""
