"""Exchange credentials encrypted at rest with the shared cipher (``db.cipher``: Fernet with
key rotation, re-exported here): loading one decrypted credential, re-encrypting them all.
Decrypted values live only in memory, for building an exchange client.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from agentic_app.db.broker_models import ExchangeCredential
from agentic_app.db.cipher import CredentialCipher, derived_key
from agentic_app.db.engine import Database

__all__ = ["Credential", "CredentialCipher", "derived_key", "load_credential", "rotate_all"]


@dataclass(frozen=True)
class Credential:
    """A decrypted credential, for building one exchange client."""

    id: int
    user_id: int
    exchange: str
    sandbox: bool
    api_key: str
    secret: str


def load_credential(db: Database, cipher: CredentialCipher, user_id: int,
                    exchange: str) -> Credential | None:
    """The user's decrypted credential for ``exchange``, or None."""
    with Session(db.engine) as session:
        row = session.exec(select(ExchangeCredential).where(
            ExchangeCredential.user_id == user_id,
            ExchangeCredential.exchange == exchange)).first()
        if row is None:
            return None
        return Credential(id=int(row.id), user_id=row.user_id,  # type: ignore[arg-type]
                          exchange=row.exchange, sandbox=row.sandbox,
                          api_key=cipher.decrypt(row.api_key_enc),
                          secret=cipher.decrypt(row.secret_enc))


def rotate_all(db: Database, cipher: CredentialCipher) -> int:
    """Re-encrypt every stored credential with the first key; how many rows."""
    with Session(db.engine) as session:
        rows = session.exec(select(ExchangeCredential)).all()
        for row in rows:
            row.api_key_enc = cipher.rotate(row.api_key_enc)
            row.secret_enc = cipher.rotate(row.secret_enc)
            session.add(row)
        session.commit()
        return len(rows)
