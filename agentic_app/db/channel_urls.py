"""Notification channel URLs at rest: ``NotificationChannel.url`` holds the apprise URL
encrypted with the shared cipher (``db.cipher``, the exchange credentials' keys). Here: the
cipher of the settings, sealing a URL for storage, opening it where it is sent or masked,
and re-encrypting every stored URL with the first key (``rotate-credentials``)."""

from __future__ import annotations

import sqlalchemy as sa
from cryptography.fernet import InvalidToken

from agentic_app.db.alert_models import NotificationChannel
from agentic_app.db.cipher import CredentialCipher, cipher_for
from agentic_app.db.engine import Database
from agentic_app.domain.errors import FatalError
from agentic_app.settings import Settings

WHAT = "notification channel URL"
"""How a decryption error names the value."""


def channel_cipher(settings: Settings) -> CredentialCipher:
    """The cipher of channel URLs: BROKER__CREDENTIAL_KEYS plus the SECRET_KEY-derived key."""
    return cipher_for(settings.broker.credential_keys, settings.resolved_secret_key())


def seal_url(cipher: CredentialCipher, url: str) -> str:
    """What is stored for ``url``: its ciphertext."""
    return cipher.encrypt(url)


def open_url(cipher: CredentialCipher, stored: str) -> str:
    """The URL of a stored value; FatalError(field="credential") when no key opens it."""
    return cipher.decrypt(stored, WHAT)


def open_url_or_none(cipher: CredentialCipher, stored: str) -> str | None:
    """The URL of a stored value, or None when no configured key opens it."""
    try:
        return open_url(cipher, stored)
    except FatalError:
        return None


def rotate_channel_urls(db: Database, cipher: CredentialCipher) -> int:
    """Re-encrypt every stored channel URL with the first key; how many rows. A row no key
    opens stops the rotation with FatalError (nothing of it committed)."""
    table = NotificationChannel.__table__  # type: ignore[attr-defined]
    with db.session() as s:
        rows = s.execute(sa.select(table.c.id, table.c.url)).all()
        for row_id, stored in rows:
            try:
                fresh = cipher.rotate(stored)
            except InvalidToken:
                raise FatalError(f"{WHAT} of channel {row_id} cannot be decrypted with the "
                                 "configured keys (BROKER__CREDENTIAL_KEYS)",
                                 field="credential") from None
            s.execute(sa.update(table).where(table.c.id == row_id).values(url=fresh))
    return len(rows)
