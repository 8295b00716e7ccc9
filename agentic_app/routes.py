"""UI route constants."""

LOGIN = "/login"
WORKFLOWS = "/workflows"
SCHEDULER = "/scheduler"
QUEUE = "/queue"
MONITOR = "/monitor"
BROKER = "/broker"
INDEX = "/"
SCHEDULER_JOB = "/scheduler/[job_id]"
MONITOR_EXECUTION = "/monitor/[execution_id]"
WORKFLOW_EDIT = "/workflows/[workflow_id]"
RQ_DASHBOARD = "/rq"
PORTFOLIO = "/portfolio"
NOTIFICATIONS = "/notifications"

NAV = [
    ("Scheduler", SCHEDULER, "calendar-clock"),
    ("Queue", QUEUE, "list-ordered"),
    ("Monitor", MONITOR, "activity"),
    ("Workflows", WORKFLOWS, "workflow"),
    ("Portfolio", PORTFOLIO, "wallet"),
    ("Broker", BROKER, "landmark"),
]
"""Navigation entries: label, route, lucide icon."""
