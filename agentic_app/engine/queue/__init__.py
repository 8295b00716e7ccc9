"""The job queue: job_queue rows and RQ jobs, limits, cancel/retry, maintenance, retention."""
