"""The broker workflow nodes see: paper orders by default, live orders on the user's
exchange account for ``OrderRequest.broker == "<exchange id>"``.

Every order, paper or live, is refused while the user's kill switch is engaged. A live
order goes through a :class:`~agentic_app.broker.live.LiveBroker` built from the user's
stored (decrypted) credential for that exchange, with the :class:`SafetyGuard` in front.
Live brokers are cached per user and credential (their market list is loaded once).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import redis as redis_lib
from sqlmodel import Session

from agentic_app.broker.base import OrderRequest, OrderResult
from agentic_app.broker.credentials import CredentialCipher, load_credential
from agentic_app.broker.exchanges import build_client, spec_of
from agentic_app.broker.live import LiveBroker
from agentic_app.broker.paper import PaperBroker
from agentic_app.broker.safety import SafetyGuard, is_halted
from agentic_app.db.engine import Database
from agentic_app.domain.errors import InvalidInputError, LimitExceededError
from agentic_app.domain.live_trading import KILL_SWITCH
from agentic_app.settings import BrokerSettings

PAPER = "paper"
"""``OrderRequest.broker`` of a paper order."""
DAILY_LIMITS = frozenset({"max_orders_per_day", "max_turnover_per_day", "max_daily_loss"})
"""Refusals that raise a ``daily_limit`` alert (the others raise ``order_rejected``)."""

Alert = Callable[..., None]
"""``alert(user_id=, kind=, subject=, body=, execution_id=, refs=)``: tell the user (the
engine's ``emit_quietly``: inbox + channels); must not raise."""


class LiveBrokers:
    """Builds (and caches) each user's live broker from their stored credential."""

    def __init__(self, db: Database, settings: BrokerSettings, secret_key: Callable[[], str],
                 redis: Callable[[], redis_lib.Redis]) -> None:
        self._db = db
        self._settings = settings
        self._secret_key = secret_key
        self._cipher: CredentialCipher | None = None
        self.guard = SafetyGuard(db, redis, settings.limits())
        self._cache: dict[tuple[int, str], tuple[int, LiveBroker]] = {}
        self._lock = threading.Lock()

    @property
    def cipher(self) -> CredentialCipher:
        """The credential cipher (keys from settings, SECRET_KEY-derived fallback)."""
        if self._cipher is None:
            self._cipher = CredentialCipher(self._settings.credential_keys, self._secret_key())
        return self._cipher

    def for_user(self, user_id: int, exchange: str) -> LiveBroker:
        """The user's live broker on ``exchange``; InvalidInputError(field="broker") when
        they have no credential there (or it is a mainnet one while mainnet is off)."""
        spec = spec_of(exchange)
        cred = load_credential(self._db, self.cipher, user_id, spec.id)
        if cred is None:
            raise InvalidInputError(f"no {spec.id} credential: add one on the Broker page",
                                    field="broker")
        if not cred.sandbox and not self._settings.allow_mainnet:
            raise InvalidInputError("live (mainnet) trading is off (BROKER__ALLOW_MAINNET)",
                                    field="broker")
        with self._lock:
            cached = self._cache.get((user_id, spec.id))
            if cached is not None and cached[0] == cred.id:
                return cached[1]
        client = build_client(spec.id, api_key=cred.api_key, secret=cred.secret,
                              sandbox=cred.sandbox,
                              timeout_seconds=self._settings.request_timeout_seconds,
                              test_base_url=self._settings.test_base_url)
        broker = LiveBroker(self._db, client, exchange_id=spec.id, user_id=user_id,
                            credential_id=cred.id, sandbox=cred.sandbox, guard=self.guard)
        with self._lock:
            self._cache[(user_id, spec.id)] = (cred.id, broker)
        return broker

    def forget(self, user_id: int) -> None:
        """Drop the user's cached brokers (their credential changed)."""
        with self._lock:
            for key in [k for k in self._cache if k[0] == user_id]:
                del self._cache[key]


class BrokerRouter:
    """A :class:`~agentic_app.broker.base.Broker` routing each order to paper or live."""

    def __init__(self, db: Database, paper: PaperBroker, live: LiveBrokers,
                 alert: Alert | None = None) -> None:
        self._db = db
        self.paper = paper
        self.live = live
        self._alert = alert

    def place_order(self, order: OrderRequest) -> OrderResult:
        """Place ``order`` on the broker it names; refused while the kill switch is on."""
        with Session(self._db.engine) as session:
            if is_halted(session, order.user_id):
                raise LimitExceededError("the kill switch is engaged: no order is placed "
                                         "until it is re-armed", limit=KILL_SWITCH)
        venue = str(order.broker or PAPER).lower()
        if venue == PAPER:
            return self.paper.place_order(order)
        broker = self.live.for_user(order.user_id, venue)
        try:
            result = broker.place_order(order)
        except LimitExceededError as exc:
            kind = "daily_limit" if exc.limit in DAILY_LIMITS else "order_rejected"
            self._tell(order, kind, f"Live order refused ({exc.limit})", exc.message)
            raise
        if not result.duplicate and result.status in ("filled", "rejected"):
            verb = "filled" if result.status == "filled" else "rejected"
            self._tell(order, f"order_{verb}",
                       f"Live order {verb}: {result.side} {result.quantity:g} {result.symbol}",
                       result.reason or f"on {venue} at {result.avg_fill_price or '-'}",
                       live_order_id=result.order_id)
        return result

    def _tell(self, order: OrderRequest, kind: str, subject: str, body: str,
              **refs: Any) -> None:
        if self._alert is not None:
            self._alert(user_id=order.user_id, kind=kind, subject=subject, body=body,
                        execution_id=order.execution_id,
                        refs={"execution_id": order.execution_id, **refs})

    def get_order(self, idempotency_key: str) -> OrderResult | None:
        """The paper order with ``idempotency_key`` (live orders: ``live.for_user``)."""
        return self.paper.get_order(idempotency_key)

    def positions(self, user_id: int) -> list[Any]:
        """The user's paper positions (position sizing uses the paper account)."""
        return self.paper.positions(user_id)

    def account(self, user_id: int, venue: str = PAPER) -> Any:
        """The user's account on ``venue``: paper, or the exchange (live, its equity)."""
        if str(venue or PAPER).lower() == PAPER:
            return self.paper.account(user_id)
        return self.live.for_user(user_id, str(venue).lower()).account()

    def __getattr__(self, name: str) -> Any:
        """Everything else of the paper broker (orders, cancel_order, process_open_orders)."""
        return getattr(self.paper, name)
