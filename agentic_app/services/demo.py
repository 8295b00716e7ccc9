"""Demo data: the ``demo`` user and the three template workflows (local mode only)."""

from __future__ import annotations

from sqlmodel import select

from agentic_app.db.engine import session_scope
from agentic_app.db.models import User, Workflow
from agentic_app.domain.templates import TEMPLATES
from agentic_app.services.passwords import hash_password
from agentic_app.settings import Settings

DEMO_USERNAME = "demo"


def seed_demo(settings: Settings) -> tuple[User, list[Workflow]]:
    """Create the demo user and its template workflows if missing (idempotent)."""
    if not settings.is_local:
        raise RuntimeError("seed-demo is refused in production mode")
    with session_scope(settings.database_url) as session:
        user = session.exec(select(User).where(User.username == DEMO_USERNAME)).first()
        if user is None:
            user = User(username=DEMO_USERNAME, is_admin=True,
                        password_hash=hash_password(settings.demo_password))
            session.add(user)
            session.flush()
        owned = session.exec(select(Workflow).where(Workflow.user_id == user.id))
        existing = {w.name for w in owned}
        created = []
        for name, template in TEMPLATES.items():
            if name in existing:
                continue
            wf = Workflow(user_id=user.id, name=name, description=template["description"],
                          definition=template["definition"])
            session.add(wf)
            created.append(wf)
        session.flush()
        for wf in created:
            session.refresh(wf)
        session.refresh(user)
        return user, created
