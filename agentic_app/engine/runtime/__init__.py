"""Processes that run work: RQ workers, the job functions they run, the supervisor."""
