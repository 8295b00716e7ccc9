"""channel URLs encrypted at rest

``notification_channels.url`` holds the apprise URL encrypted with the shared cipher
(``agentic_app.db.cipher``, the exchange credentials' keys) instead of the plain URL.
Upgrade encrypts every plain row (a plain apprise URL contains "://", a Fernet token never
does, so running it on an encrypted row changes nothing); downgrade decrypts them back.

The cipher is the one the caller passes (``config.attributes["cipher"]``, as
``db.migrate`` does with the app's settings), else the one of the process settings
(BROKER__CREDENTIAL_KEYS, SECRET_KEY) - the `alembic` CLI.

Revision ID: channel_urls_encrypted
Revises: schedules_as_written
Create Date: 2026-12-02
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = 'channel_urls_encrypted'
down_revision: Union[str, None] = 'schedules_as_written'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_channels = sa.table('notification_channels', sa.column('id', sa.Integer),
                     sa.column('url', sa.Text))


def _cipher():
    """The cipher given by the caller, else the one of the process settings."""
    given = op.get_context().config.attributes.get("cipher")
    if given is not None:
        return given
    from agentic_app.db.channel_urls import channel_cipher
    from agentic_app.settings import get_settings

    return channel_cipher(get_settings())


def _is_plain(value: str) -> bool:
    return "://" in value


def _rewrite(encrypt: bool) -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(_channels.c.id, _channels.c.url)).all()
    todo = [(i, v) for i, v in rows if _is_plain(v) == encrypt]
    if not todo:
        return
    cipher = _cipher()
    for row_id, value in todo:
        new = cipher.encrypt(value) if encrypt else cipher.decrypt(
            value, "notification channel URL")
        conn.execute(sa.update(_channels).where(_channels.c.id == row_id).values(url=new))


def upgrade() -> None:
    """Encrypt every plain channel URL."""
    _rewrite(encrypt=True)


def downgrade() -> None:
    """Decrypt every encrypted channel URL (FatalError when the keys do not open one)."""
    _rewrite(encrypt=False)
