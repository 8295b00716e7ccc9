"""Exchange credentials at rest: Fernet-encrypted, readable after a key rotation, re-encrypted
by ``rotate_all``, unreadable with a wrong key (a clear error, not garbage)."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlmodel import Session, select

from agentic_app.broker.credentials import CredentialCipher, load_credential, rotate_all
from agentic_app.db.alert_models import NotificationChannel
from agentic_app.db.broker_models import ExchangeCredential
from agentic_app.db.channel_urls import open_url
from agentic_app.domain.errors import FatalError


def test_rotation_keeps_credentials_readable(users):
    db, alice, _ = users
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = CredentialCipher([old], "secret-key")
    with Session(db.engine) as s:
        s.add(ExchangeCredential(user_id=alice, exchange="binance", key_hint="…1234",
                                 api_key_enc=before.encrypt("key-1234"),
                                 secret_enc=before.encrypt("secret-5678")))
        s.commit()
    rotated = CredentialCipher([new, old], "secret-key")
    cred = load_credential(db, rotated, alice, "binance")
    assert cred is not None and (cred.api_key, cred.secret) == ("key-1234", "secret-5678")
    assert rotate_all(db, rotated) == 1
    only_new = CredentialCipher([new], "other-secret-key")
    cred = load_credential(db, only_new, alice, "binance")
    assert cred is not None and cred.secret == "secret-5678"
    with Session(db.engine) as s:
        stored = s.exec(select(ExchangeCredential)).one()
    assert "secret-5678" not in stored.secret_enc
    with pytest.raises(FatalError, match="CREDENTIAL_KEYS"):
        load_credential(db, CredentialCipher([Fernet.generate_key().decode()], "x"), alice,
                        "binance")


def test_without_keys_the_secret_key_derived_key_is_used(users):
    db, alice, _ = users
    cipher = CredentialCipher([], "the-secret-key")
    token = cipher.encrypt("value")
    assert CredentialCipher([], "the-secret-key").decrypt(token) == "value"
    assert CredentialCipher([Fernet.generate_key().decode()], "the-secret-key").decrypt(
        token) == "value"
    with pytest.raises(FatalError):
        CredentialCipher([], "another-secret-key").decrypt(token)
    assert load_credential(db, cipher, alice, "binance") is None


def test_cli_rotate_credentials_re_encrypts_with_the_new_key(sqlite_db_url, tmp_path):
    """`python -m agentic_app rotate-credentials` after putting a new key first: every stored
    credential and notification channel URL then opens with the new key alone."""
    import json
    import os
    import subprocess
    import sys

    from agentic_app.services.app import AppServices
    from agentic_app.settings import REPO_ROOT, load_settings

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    services = AppServices(load_settings(database_url=sqlite_db_url, data_dir=tmp_path,
                                         broker={"credential_keys": [old]}))
    actor = services.users.create(username="rotator", password="rotation password 12")
    services.broker.add_credential(actor, exchange="binance", api_key="key-abcdefgh",
                                   secret="secret-abcdefgh")
    url = "json://hook:pw-abcdefgh@93.184.216.34/hook"
    channel = services.alerts.channels.create(actor, name="hook", url=url)
    env = dict(os.environ, DATABASE_URL=sqlite_db_url, DATA_DIR=str(tmp_path),
               BROKER__CREDENTIAL_KEYS=json.dumps([new, old]))
    out = subprocess.run([sys.executable, "-m", "agentic_app", "rotate-credentials"],
                         cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "1 credential(s) re-encrypted" in out.stdout
    assert "1 channel URL(s) re-encrypted" in out.stdout
    cred = load_credential(services.db, CredentialCipher([new], "unrelated"), actor.id,
                           "binance")
    assert cred is not None and (cred.api_key, cred.secret) == ("key-abcdefgh",
                                                                "secret-abcdefgh")
    with Session(services.db.engine) as s:
        stored = s.get(NotificationChannel, channel["id"])
    assert stored is not None and "abcdefgh" not in stored.url
    assert open_url(CredentialCipher([new], "unrelated"), stored.url) == url
