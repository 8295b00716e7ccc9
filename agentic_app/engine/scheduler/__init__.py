"""The scheduler: leader, schedule store, time triggers and the market-trigger watcher."""
