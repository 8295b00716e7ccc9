"""The daily cap's count reads only the enqueuing user's rows of the day (migration 0013),
on SQLite and PostgreSQL: with every user's executions of the day and of the days before in
the tables, the caps statement looks up (user_id, created_at), so an enqueue does not get
slower as the other users' executions pile up during the day (it read every user's rows of
the day, under the enqueue lock, before)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from agentic_app.db.engine import get_engine, session_scope
from agentic_app.db.models import User, Workflow
from agentic_app.engine.queue.limits import _SQL_CAPS, day_start

USERS, TODAY_EACH, HISTORY_DAYS = 100, 50, 4
TABLES = ("workflow_executions", "manual_retries")


def _fill(db_url: str) -> tuple[int, datetime]:
    """USERS users with TODAY_EACH executions and manual retries each today, and as many on
    each of the HISTORY_DAYS days before; (the first user's id, the day's start)."""
    since = day_start(datetime.now(timezone.utc))
    with session_scope(db_url) as s:
        users = [User(username=f"u{i}", password_hash="x") for i in range(USERS)]
        s.add_all(users)
        s.flush()
        wfs = [Workflow(user_id=u.id, name="w", definition={"nodes": []}) for u in users]
        s.add_all(wfs)
        s.flush()
        pairs = [(u.id, w.id) for u, w in zip(users, wfs, strict=True)]
    today = [{"w": w, "u": u, "t": since + timedelta(seconds=k + 1)}
             for u, w in pairs for k in range(TODAY_EACH)]
    with get_engine(db_url).begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO workflow_executions (workflow_id, user_id, status, trigger_type, "
            "trigger_payload, attempt, created_at, alert_only) "
            "VALUES (:w, :u, 'completed', 'manual', '{}', 1, :t, false)"), today)
        conn.execute(sa.text("INSERT INTO manual_retries (execution_id, user_id, created_at) "
                             "SELECT id, user_id, created_at FROM workflow_executions"))
        for day in range(1, HISTORY_DAYS + 1):  # the same rows on each day before
            then = {"since": since, "then": since - timedelta(days=day)}
            conn.execute(sa.text(
                "INSERT INTO workflow_executions (workflow_id, user_id, status, trigger_type, "
                "trigger_payload, attempt, created_at, alert_only) SELECT workflow_id, "
                "user_id, status, trigger_type, trigger_payload, attempt, :then, alert_only "
                "FROM workflow_executions WHERE created_at >= :since"), then)
            conn.execute(sa.text(
                "INSERT INTO manual_retries (execution_id, user_id, created_at) SELECT "
                "execution_id, user_id, :then FROM manual_retries WHERE created_at >= :since"),
                then)
        conn.execute(sa.text("ANALYZE"))
    return pairs[0][0], since


def _nodes(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def test_the_daily_count_reads_only_the_users_rows_of_the_day(db_url):
    user_id, since = _fill(db_url)
    engine = get_engine(db_url)
    compiled = _SQL_CAPS.compile(engine)
    params = {**compiled.params, "user_id": user_id, "since": since}
    with engine.connect() as conn:
        row = conn.execute(_SQL_CAPS, {"user_id": user_id, "since": since}).one()
        assert row.today == 2 * TODAY_EACH  # executions + manual retries of the day
        if engine.dialect.name == "sqlite":
            plan = " | ".join(r[-1] for r in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + compiled.string,
                tuple(params[k] for k in compiled.positiontup)))
            for table in TABLES:
                assert f"{table} USING COVERING INDEX ix_{table}_user_created " \
                       "(user_id=? AND created_at>?)" in plan, plan
            return
        doc = conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + compiled.string,
                                   params).scalar_one()
    plan = doc if isinstance(doc, list) else json.loads(doc)
    scans = {n["Relation Name"]: n for n in _nodes(plan[0]["Plan"])
             if n.get("Relation Name") in TABLES}
    assert set(scans) == set(TABLES), plan
    for table, scan in scans.items():
        # the scan returns the user's rows of the day and reads no other row
        assert scan["Actual Rows"] == TODAY_EACH, (table, plan)
        assert scan.get("Rows Removed by Filter", 0) == 0, (table, plan)
        assert f"ix_{table}_user_created" in {n.get("Index Name") for n in _nodes(scan)}, plan
