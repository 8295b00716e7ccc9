"""Pure domain logic: no I/O, and no reflex, sqlmodel, redis, rq or apscheduler imports."""
