"""Channel URLs encrypted at rest, end to end: delivery through real RQ workers still
reaches a local HTTP receiver and a local SMTP sink; a channel whose stored URL no key opens
fails on its own (recorded on the channel, the other channel served, workers and their
sweep alive); rotation to a new key keeps every URL readable with the new key alone; the
migration encrypts a plain row and its downgrade decrypts it, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from cryptography.fernet import Fernet

from agentic_app.db.alert_models import NotificationChannel
from agentic_app.db.channel_urls import channel_cipher, open_url
from agentic_app.db.cipher import CredentialCipher
from agentic_app.db.engine import get_engine, session_scope
from agentic_app.db.migrate import alembic_config
from agentic_app.domain.alerts import RULE_KINDS
from agentic_app.services.app import Actor, AppServices
from agentic_app.settings import load_settings
from tests.integration.alerts.conftest import AlertEnv, Receiver, SmtpSink
from tests.integration.queue.conftest import wait_for
from tests.integration.test_migrations import _seed_user_and_workflow

PUBLIC = "json://hook:pw-s3cr3t@93.184.216.34/path/t0ken-s3cr3t"
"""A public literal address (accepted without DNS) carrying a password and a path token."""


def _stored(db_url: str) -> dict[int, str]:
    """The raw ``notification_channels.url`` column by id."""
    get_engine.cache_clear()
    with get_engine(db_url).connect() as conn:
        return dict(conn.execute(sa.text("SELECT id, url FROM notification_channels")).all())


def test_encrypted_channels_reach_receiver_and_smtp_sink(aenv: AlertEnv, receiver: Receiver,
                                                         smtp_sink: SmtpSink):
    """Both channels are stored as ciphertext, and a real worker decrypts them to send: one
    message in the HTTP receiver, one mail in the SMTP sink."""
    uid = aenv.user("alice")
    actor = Actor(uid, "alice")
    hook = aenv.app.alerts.channels.create(actor, name="hook", url=receiver.url())
    mail = aenv.app.alerts.channels.create(actor, name="mail", url=smtp_sink.url())
    stored = _stored(aenv.db_url)
    assert str(receiver.port) not in stored[hook["id"]] and "://" not in stored[hook["id"]]
    assert str(smtp_sink.port) not in stored[mail["id"]] and "://" not in stored[mail["id"]]
    aenv.start_workers(1)
    aenv.app.alerts.emit(uid, "order_filled", "order 3 filled", refs={"order_id": 3})
    wait_for(lambda: receiver.messages and smtp_sink.messages, 20,
             message="the alert in the receiver and the SMTP sink")
    assert receiver.messages[0]["title"] == "order 3 filled"
    assert "order 3 filled" in smtp_sink.messages[0].content.decode(errors="replace")


def test_undecryptable_channel_fails_alone(aenv: AlertEnv, receiver: Receiver):
    """A channel stored under a key the app does not have: each delivery attempt to it is a
    recorded failure naming the keys, the healthy channel gets its message, the workers (and
    the sweep they run, which pushes the retries) keep going; its view and test send say so
    without raising."""
    uid = aenv.user("alice")
    actor = Actor(uid, "alice")
    foreign = CredentialCipher([Fernet.generate_key().decode()], "another secret key")
    with session_scope(aenv.db_url) as s:
        row = NotificationChannel(user_id=uid, name="lost key", kinds=list(RULE_KINDS),
                                  url=foreign.encrypt(receiver.url("lost")))
        s.add(row)
        s.flush()
        lost_id = row.id
    aenv.app.alerts.channels.create(actor, name="good", url=receiver.url())
    aenv.start_workers(1)
    aenv.app.alerts.emit(uid, "order_rejected", "order 7 rejected", refs={"order_id": 7})
    wait_for(lambda: receiver.messages, 10, message="the healthy channel's message")
    wait_for(lambda: aenv.app.alerts.channels.get(actor, lost_id)["last_status"] == "failed",
             20, message="the undecryptable channel to be marked failed after its retries")
    view = aenv.app.alerts.channels.get(actor, lost_id)
    assert view["failures"] == 3 and "cannot be decrypted" in view["last_error"]
    assert "BROKER__CREDENTIAL_KEYS" in view["url_masked"]
    assert [m["title"] for m in receiver.messages] == ["order 7 rejected"]
    assert all(p.poll() is None for p in aenv.procs), "a worker died"
    result = aenv.app.alerts.channels.test(actor, lost_id)
    assert result["ok"] is False and "cannot be decrypted" in result["error"]
    assert len(receiver.messages) == 1


def test_rotation_re_encrypts_channel_urls(sqlite_db_url: str, redis_url: str, tmp_path):
    """After a new key is put first, ``rotate_urls`` rewrites every stored URL so that the new
    key alone (another SECRET_KEY, the old key gone) opens it."""
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    base = {"database_url": sqlite_db_url, "data_dir": tmp_path}
    before = AppServices(load_settings(**base, broker={"credential_keys": [old]}),
                         redis_url=redis_url)
    actor = before.users.create(username="rotator", password="rotation password 12")
    made = before.alerts.channels.create(actor, name="hook", url=PUBLIC)
    old_token = _stored(sqlite_db_url)[made["id"]]
    assert open_url(CredentialCipher([old], "unrelated"), old_token) == PUBLIC
    after = AppServices(load_settings(**base, broker={"credential_keys": [new, old]}),
                        redis_url=redis_url)
    assert after.alerts.channels.rotate_urls() == 1
    new_token = _stored(sqlite_db_url)[made["id"]]
    assert new_token != old_token and "s3cr3t" not in new_token
    assert open_url(CredentialCipher([new], "unrelated"), new_token) == PUBLIC
    assert after.alerts.channels.get(actor, made["id"])["url_masked"] == (
        "json://****@93.184.216.34/****")


def _plain_row_before_the_revision(db_url: str, cfg) -> None:
    """Downgrade to the revision before the encryption and store one plain channel URL."""
    command.downgrade(cfg, "schedules_as_written")
    with get_engine(db_url).begin() as conn:
        _seed_user_and_workflow(conn)
        conn.execute(sa.text(
            "INSERT INTO notification_channels (user_id, name, url, enabled, kinds, failures, "
            "created_at, updated_at) SELECT id, 'plain', :url, true, '[]', 0, "
            "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM users"), {"url": PUBLIC})


def test_migration_encrypts_plain_rows_and_downgrade_decrypts(db_url: str):
    """On SQLite and PostgreSQL: a plain URL written before the revision is ciphertext after
    the upgrade (opened by the cipher the migration was given), plain again after the
    downgrade; an upgrade over rows already encrypted leaves them alone."""
    cipher = CredentialCipher([Fernet.generate_key().decode()], "migration secret key")
    cfg = alembic_config(db_url, cipher)
    _plain_row_before_the_revision(db_url, cfg)
    [(cid, plain)] = _stored(db_url).items()
    assert plain == PUBLIC
    command.upgrade(cfg, "head")
    token = _stored(db_url)[cid]
    assert token != PUBLIC and "s3cr3t" not in token and open_url(cipher, token) == PUBLIC
    command.downgrade(cfg, "schedules_as_written")
    assert _stored(db_url)[cid] == PUBLIC
    command.upgrade(cfg, "head")
    again = _stored(db_url)[cid]
    command.upgrade(cfg, "channel_urls_encrypted")  # at head already: a no-op
    assert _stored(db_url)[cid] == again and open_url(cipher, again) == PUBLIC


def test_app_migration_uses_the_app_keys(sqlite_db_url: str, redis_url: str, tmp_path):
    """``AppServices.migrate`` hands the migration the app's own cipher: a plain row left by
    the previous revision opens with the app's keys after the app migrates."""
    key = Fernet.generate_key().decode()
    settings = load_settings(database_url=sqlite_db_url, data_dir=tmp_path,
                             broker={"credential_keys": [key]})
    _plain_row_before_the_revision(sqlite_db_url, alembic_config(sqlite_db_url))
    app = AppServices(settings, redis_url=redis_url)
    app.migrate()
    [token] = _stored(sqlite_db_url).values()
    assert open_url(CredentialCipher([key], "unrelated"), token) == PUBLIC
    assert open_url(channel_cipher(settings), token) == PUBLIC
