"""Exchange credentials encrypted at rest: Fernet with key rotation (MultiFernet).

Keys come from settings (``BROKER__CREDENTIAL_KEYS``, newest first: the first encrypts,
every key decrypts). A key derived from SECRET_KEY (HKDF-SHA256) always decrypts too and
encrypts while no key is configured. :meth:`CredentialCipher.rotate` re-encrypts a value
with the first key. Decrypted values live only in memory, for building an exchange client.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlmodel import Session, select

from agentic_app.db.broker_models import ExchangeCredential
from agentic_app.db.engine import Database
from agentic_app.domain.errors import FatalError


def derived_key(secret_key: str) -> bytes:
    """The Fernet key derived from SECRET_KEY (HKDF-SHA256, fixed info)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"agentic exchange credentials").derive(secret_key.encode())
    return base64.urlsafe_b64encode(raw)


class CredentialCipher:
    """Encrypts and decrypts credential fields with the configured keys."""

    def __init__(self, keys: list[str], secret_key: str) -> None:
        fernets = [Fernet(k) for k in keys] + [Fernet(derived_key(secret_key))]
        self._multi = MultiFernet(fernets)

    def encrypt(self, value: str) -> str:
        """``value`` encrypted with the first key."""
        return self._multi.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        """The plain value; FatalError when no configured key opens it."""
        try:
            return self._multi.decrypt(token.encode()).decode()
        except InvalidToken:
            raise FatalError("a stored exchange credential cannot be decrypted with the "
                             "configured keys (BROKER__CREDENTIAL_KEYS)",
                             field="credential") from None

    def rotate(self, token: str) -> str:
        """``token`` re-encrypted with the first key."""
        return self._multi.rotate(token.encode()).decode()


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
