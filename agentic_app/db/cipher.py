"""Secrets encrypted at rest: one Fernet/MultiFernet cipher with key rotation, shared by the
stored exchange credentials and the notification channel URLs.

Keys come from settings (``BROKER__CREDENTIAL_KEYS``, newest first: the first encrypts,
every key decrypts). A key derived from SECRET_KEY (HKDF-SHA256) always decrypts too and
encrypts while no key is configured. :meth:`CredentialCipher.rotate` re-encrypts a value
with the first key. Decrypted values live only in memory, where they are used.
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from agentic_app.domain.errors import FatalError


def derived_key(secret_key: str) -> bytes:
    """The Fernet key derived from SECRET_KEY (HKDF-SHA256, fixed info)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"agentic exchange credentials").derive(secret_key.encode())
    return base64.urlsafe_b64encode(raw)


class CredentialCipher:
    """Encrypts and decrypts stored secrets with the configured keys."""

    def __init__(self, keys: list[str], secret_key: str) -> None:
        fernets = [Fernet(k) for k in keys] + [Fernet(derived_key(secret_key))]
        self._multi = MultiFernet(fernets)

    def encrypt(self, value: str) -> str:
        """``value`` encrypted with the first key."""
        return self._multi.encrypt(value.encode()).decode()

    def decrypt(self, token: str, what: str = "exchange credential") -> str:
        """The plain value; FatalError (naming ``what``) when no configured key opens it."""
        try:
            return self._multi.decrypt(token.encode()).decode()
        except InvalidToken:
            raise FatalError(f"a stored {what} cannot be decrypted with the configured keys "
                             "(BROKER__CREDENTIAL_KEYS)", field="credential") from None

    def rotate(self, token: str) -> str:
        """``token`` re-encrypted with the first key."""
        return self._multi.rotate(token.encode()).decode()


@functools.lru_cache(maxsize=8)
def _cached(keys: tuple[str, ...], secret_key: str) -> CredentialCipher:
    return CredentialCipher(list(keys), secret_key)


def cipher_for(keys: list[str], secret_key: str) -> CredentialCipher:
    """The cipher of these keys (built once per distinct keys and SECRET_KEY)."""
    return _cached(tuple(keys), secret_key)
