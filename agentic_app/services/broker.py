"""Live trading for the user: exchange credentials, safety limits, live orders, balances.

Credentials are encrypted before they are stored and never leave this service: a view shows
the exchange, label, sandbox flag, the masked key (``…a1b2``) and the creation date only.
The live brokers are the node services' (one cache per process, see ``broker.router``).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, func, select

from agentic_app.broker.credentials import rotate_all
from agentic_app.broker.exchanges import SUPPORTED, spec_of
from agentic_app.broker.live import ExchangeUnavailableError
from agentic_app.broker.router import LiveBrokers
from agentic_app.broker.safety import day_counters, effective_limits
from agentic_app.db.broker_models import ExchangeCredential, LiveOrder, TradingLimitOverride
from agentic_app.db.models import utcnow
from agentic_app.domain.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    ServiceUnavailableError,
)
from agentic_app.domain.live_trading import (
    LIMIT_FIELDS,
    MAX_LABEL_LENGTH,
    MAX_SECRET_LENGTH,
    MIN_SECRET_LENGTH,
    mask_key,
    validate_overrides,
)
from agentic_app.services.base import Actor, Service


def credential_view(row: ExchangeCredential) -> dict[str, Any]:
    """What may be shown of a credential (never the key or secret)."""
    return {"id": row.id, "exchange": row.exchange, "label": row.label,
            "sandbox": row.sandbox, "key_hint": row.key_hint, "created_at": row.created_at}


def order_view(row: LiveOrder) -> dict[str, Any]:
    """A live order as the UI and API show it (with the reason of a refusal)."""
    return {name: getattr(row, name) for name in (
        "id", "exchange", "sandbox", "symbol", "side", "order_type", "quantity",
        "limit_price", "notional", "status", "filled_quantity", "avg_fill_price", "fee",
        "reason", "execution_id", "node_id", "client_order_id", "created_at", "updated_at",
        "filled_at")}


def _secret_field(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be a string", field=name)
    value = value.strip()
    if not MIN_SECRET_LENGTH <= len(value) <= MAX_SECRET_LENGTH:
        raise InvalidInputError(f"{name} must be {MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH} "
                                "characters", field=name)
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise InvalidInputError(f"{name} must not contain spaces or control characters",
                                field=name)
    return value


class BrokerService(Service):
    """Credentials, limits, live orders and balances of the acting user."""

    @property
    def live(self) -> LiveBrokers:
        """The process's live brokers (shared with the workflow nodes)."""
        return self._app.node_services.broker.live

    def exchanges(self) -> list[dict[str, Any]]:
        """The exchanges live orders may go to, with their quote currency."""
        return [{"id": s.id, "quote": s.quote,
                 "mainnet_allowed": self.settings.broker.allow_mainnet}
                for s in SUPPORTED.values()]

    # -- credentials ------------------------------------------------------------------------

    def credentials(self, actor: Actor) -> list[dict[str, Any]]:
        """The user's credentials (masked views), oldest first."""
        with self.db.session() as s:
            rows = s.exec(select(ExchangeCredential).where(
                ExchangeCredential.user_id == actor.id).order_by(col(ExchangeCredential.id)))
            return [credential_view(r) for r in rows]

    def add_credential(self, actor: Actor, *, exchange: str, api_key: str, secret: str,
                       label: str = "", sandbox: bool = True) -> dict[str, Any]:
        """Store a credential encrypted (one per exchange: ConflictError for a second one);
        a mainnet credential is refused unless BROKER__ALLOW_MAINNET."""
        spec = spec_of(exchange)
        api_key, secret = _secret_field(api_key, "api_key"), _secret_field(secret, "secret")
        if not isinstance(label, str) or len(label) > MAX_LABEL_LENGTH:
            raise InvalidInputError(f"label must be at most {MAX_LABEL_LENGTH} characters",
                                    field="label")
        if not isinstance(sandbox, bool):
            raise InvalidInputError("sandbox must be true or false", field="sandbox")
        if not sandbox and not self.settings.broker.allow_mainnet:
            raise InvalidInputError("only sandbox/testnet credentials are accepted "
                                    "(BROKER__ALLOW_MAINNET is off)", field="sandbox")
        cipher = self.live.cipher
        with self.db.session() as s:
            taken = s.exec(select(ExchangeCredential.id).where(
                ExchangeCredential.user_id == actor.id,
                ExchangeCredential.exchange == spec.id)).first()
            if taken is not None:
                raise ConflictError(f"you already have a {spec.id} credential: delete it "
                                    "first", field="exchange")
            row = ExchangeCredential(
                user_id=actor.id, exchange=spec.id, label=label.strip(), sandbox=sandbox,
                api_key_enc=cipher.encrypt(api_key), secret_enc=cipher.encrypt(secret),
                key_hint=mask_key(api_key))
            s.add(row)
            s.flush()
            s.refresh(row)
            view = credential_view(row)
        self.live.forget(actor.id)
        return view

    def delete_credential(self, actor: Actor, credential_id: int) -> None:
        """Delete one of the user's credentials (its orders stay in history)."""
        with self.db.session() as s:
            row = s.get(ExchangeCredential, credential_id)
            if row is None or row.user_id != actor.id:
                raise NotFoundError(f"credential {credential_id} not found",
                                    field="credential_id")
            s.delete(row)
        self.live.forget(actor.id)

    def rotate_credentials(self) -> int:
        """Re-encrypt every user's credentials with the first configured key (the operator's
        CLI ``rotate-credentials``, after adding a new key first in BROKER__CREDENTIAL_KEYS);
        how many were rewritten."""
        return rotate_all(self.db, self.live.cipher)

    # -- limits -----------------------------------------------------------------------------

    def limits(self, actor: Actor) -> dict[str, Any]:
        """Defaults, the user's overrides, the limits in force and today's counters."""
        defaults = self.settings.broker.limits()
        with self.db.session() as s:
            row = s.get(TradingLimitOverride, actor.id)
            overrides = {n: getattr(row, n) if row else None for n in LIMIT_FIELDS}
        redis = self._app.redis_or_none()
        today = day_counters(redis, actor.id, utcnow()) if redis is not None else None
        return {"defaults": defaults.to_dict(), "overrides": overrides,
                "effective": effective_limits(self.db, defaults, actor.id).to_dict(),
                "today": today}

    def set_limits(self, actor: Actor, values: dict[str, Any]) -> dict[str, Any]:
        """Replace the given overrides (None clears one); each may only tighten a default."""
        checked = validate_overrides(dict(values), self.settings.broker.limits())
        with self.db.session() as s:
            row = s.get(TradingLimitOverride, actor.id) or TradingLimitOverride(
                user_id=actor.id)
            for name, value in checked.items():
                setattr(row, name, value)
            row.updated_at = utcnow()
            s.add(row)
        return self.limits(actor)

    # -- orders and balances ----------------------------------------------------------------

    def orders(self, actor: Actor, *, status: str | None = None, offset: int = 0,
               limit: int = 50) -> tuple[list[dict[str, Any]], int]:
        """The user's live orders (refused ones with their reason), newest first; total."""
        with self.db.session() as s:
            query = select(LiveOrder).where(LiveOrder.user_id == actor.id)
            count = select(func.count()).select_from(LiveOrder).where(
                LiveOrder.user_id == actor.id)
            if status is not None:
                query = query.where(LiveOrder.status == status)
                count = count.where(LiveOrder.status == status)
            rows = s.exec(query.order_by(col(LiveOrder.id).desc()).offset(offset)
                          .limit(limit)).all()
            return [order_view(r) for r in rows], int(s.exec(count).one())

    def cancel_order(self, actor: Actor, order_id: int) -> dict[str, Any]:
        """Cancel one of the user's working live orders at the exchange."""
        with self.db.session() as s:
            row = s.get(LiveOrder, order_id)
            if row is None or row.user_id != actor.id:
                raise NotFoundError(f"order {order_id} not found", field="order_id")
            exchange, key = row.exchange, row.idempotency_key
        try:
            self.live.for_user(actor.id, exchange).cancel_order(key)
        except ExchangeUnavailableError as exc:
            raise ServiceUnavailableError(exc.message, field="exchange") from None
        with self.db.session() as s:
            return order_view(s.get(LiveOrder, order_id))  # type: ignore[arg-type]

    def account(self, actor: Actor, exchange: str) -> dict[str, Any]:
        """Balances and equity of the user's account on ``exchange`` (asks the exchange)."""
        broker = self.live.for_user(actor.id, spec_of(exchange).id)
        try:
            snapshot = broker.account()
            balances = broker.balances()
        except ExchangeUnavailableError as exc:
            raise ServiceUnavailableError(exc.message, field="exchange") from None
        return {"exchange": broker.spec.id, "sandbox": broker.sandbox,
                "currency": snapshot.currency, "equity": snapshot.equity,
                "cash": snapshot.cash, "balances": balances,
                "positions": [p.to_dict() for p in snapshot.positions]}
