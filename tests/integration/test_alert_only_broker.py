"""The alert-only broker against a real SQLite file and the paper broker it stands in for."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlmodel import Session, select

from agentic_app.broker.alert_only import AlertOnlyBroker, describe_order
from agentic_app.broker.base import ALERT_ONLY, OrderRequest
from agentic_app.db.engine import Database, get_engine
from agentic_app.db.trading_models import AlertOrder, PaperAccount, PaperFill, PaperOrder
from agentic_app.domain.errors import InvalidInputError, UnknownSymbolError
from tests.integration.test_paper_broker import (  # noqa: F401  (fixtures)
    clock,
    count,
    db_url,
    make_broker,
    market,
    order,
)


@pytest.fixture
def sent():
    """Alerts handed to ``send_alert``."""
    return []


@pytest.fixture
def broker(db_url, market, clock, sent):  # noqa: F811
    """An alert-only broker wrapping a paper broker (10 bps slippage)."""
    paper = make_broker(db_url, market, clock, slippage_bps=10)
    return AlertOnlyBroker(Database(db_url), paper, market, sent.append, clock=clock)


def test_records_and_alerts_once_and_places_nothing(broker, db_url, sent):  # noqa: F811
    """An order is stored and alerted once per idempotency key (a retried run alerts once);
    nothing reaches the paper broker: no order, fill or account row."""
    first = broker.place_order(order("9:buy", quantity=5))
    again = broker.place_order(order("9:buy", quantity=5))
    assert first.status == ALERT_ONLY and not first.duplicate
    assert again.duplicate and again.order_id == first.order_id
    assert [row.idempotency_key for row in sent] == ["9:buy"]
    assert count(db_url, AlertOrder) == 1
    assert count(db_url, PaperOrder) == count(db_url, PaperFill) == 0
    assert count(db_url, PaperAccount) == 0
    with Session(get_engine(db_url)) as s:
        row = s.exec(select(AlertOrder)).one()
    assert (row.symbol, row.side, row.quantity, row.quote_price) == ("AAPL", "buy", 5, 100.0)
    title, body = describe_order(row)
    assert title == "Alert-only: buy 5 AAPL market" and "Nothing was sent" in body
    assert broker.get_order("9:buy").order_id == first.order_id


def test_bad_orders_are_refused_like_a_broker(broker, db_url, sent):  # noqa: F811
    """A bad lot or a key of another user is an InvalidInputError naming the field."""
    with pytest.raises(InvalidInputError) as bad_lot:
        broker.place_order(order("1:a", quantity=0.5))
    assert bad_lot.value.field == "quantity"
    broker.place_order(order("1:b"))
    with pytest.raises(InvalidInputError) as taken:
        broker.place_order(order("1:b", user_id=2))
    assert taken.value.field == "idempotency_key"
    assert count(db_url, AlertOrder) == 1 and len(sent) == 1


def test_failed_delivery_keeps_the_record(db_url, market, clock):  # noqa: F811
    """A send_alert that raises does not fail the order node: the record stands."""
    def boom(row):
        raise ConnectionError("channel down")

    broker = AlertOnlyBroker(Database(db_url), make_broker(db_url, market, clock), market,
                             boom, clock=clock)
    assert broker.place_order(order("2:x")).status == ALERT_ONLY
    assert count(db_url, AlertOrder) == 1


def test_reads_go_to_the_real_broker(broker, db_url, market, clock):  # noqa: F811
    """Positions and account come from the wrapped paper broker; no cancel is exposed."""
    make_broker(db_url, market, clock).place_order(order("3:real", quantity=2))
    assert [p.symbol for p in broker.positions(1)] == ["AAPL"]
    assert broker.account(1).cash < 100_000
    assert not hasattr(broker, "cancel_order")


@dataclass(frozen=True)
class LiveRequest(OrderRequest):
    """An order for an exchange (the live broker's ``broker`` field)."""

    broker: str = "binance"


def test_live_order_with_an_unlisted_symbol_is_recorded(broker, db_url, sent):  # noqa: F811
    """An exchange order whose symbol the feed does not list is still recorded and alerted
    (without a quote); a paper order with such a symbol is refused."""
    live = LiveRequest(user_id=1, symbol="DOGEUSDT", side="buy", quantity=3.0,
                       idempotency_key="4:live")
    assert broker.place_order(live).status == ALERT_ONLY
    with Session(get_engine(db_url)) as s:
        row = s.exec(select(AlertOrder).where(AlertOrder.idempotency_key == "4:live")).one()
    assert (row.symbol, row.quote_price) == ("DOGEUSDT", None) and len(sent) == 1
    with pytest.raises(UnknownSymbolError):
        broker.place_order(order("4:paper", symbol="DOGEUSDT"))


def test_the_kill_switch_refuses_alert_only_orders_too(broker, db_url, sent):  # noqa: F811
    """While the user's kill switch is engaged nothing is recorded or alerted."""
    from agentic_app.db.broker_models import TradingHalt
    from agentic_app.domain.errors import LimitExceededError

    with Session(get_engine(db_url)) as s:
        s.add(TradingHalt(user_id=1, engaged=True))
        s.commit()
    with pytest.raises(LimitExceededError) as info:
        broker.place_order(order("halt:buy", quantity=5))
    assert info.value.limit == "kill_switch"
    assert sent == [] and count(db_url, AlertOrder) == 0
    assert broker.place_order(order("bob:buy", quantity=5, user_id=2)).status == ALERT_ONLY
