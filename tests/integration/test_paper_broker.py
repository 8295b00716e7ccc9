"""Tests of the paper broker against a real SQLite database file (agentic_app.broker.paper)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, SQLModel, func, select

from agentic_app.broker.base import Broker, OrderRequest, OrderStatus, idempotency_key
from agentic_app.broker.paper import PaperBroker
from agentic_app.db.engine import Database, get_engine
from agentic_app.db.models import User
from agentic_app.db.trading_models import PaperAccount, PaperFill, PaperOrder, PaperPosition
from agentic_app.domain.errors import InvalidInputError, NotFoundError, UnknownSymbolError
from agentic_app.market.base import Instrument, Quote
from agentic_app.market.clock import FixedClock

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
INSTRUMENTS = {
    "AAPL": Instrument("AAPL", "equity", 100.0, 0.3, decimals=2, lot_step=1, min_lot=1),
    "BTCUSDT": Instrument("BTCUSDT", "crypto", 60_000.0, 0.6, decimals=2, lot_step=0.001,
                          min_lot=0.001),
    "EURUSD": Instrument("EURUSD", "fx", 1.1, 0.08, lot_step=0.01, min_lot=0.01,
                         contract_size=100_000),
}


class TablePrices:
    """A deterministic stand-in feed: each symbol's price is a step function of time."""

    def __init__(self, clock: FixedClock):
        self.clock = clock
        self.table: dict[str, list[tuple[datetime, float]]] = {}

    def set(self, symbol: str, price: float, at: datetime) -> None:
        """From ``at`` on, ``symbol`` trades at ``price``."""
        self.table.setdefault(symbol, []).append((at, price))
        self.table[symbol].sort()

    def instrument(self, symbol: str) -> Instrument:
        """The instrument, or UnknownSymbolError."""
        if symbol.upper() not in INSTRUMENTS:
            raise UnknownSymbolError(f"unknown symbol {symbol}", field="symbol")
        return INSTRUMENTS[symbol.upper()]

    def price(self, symbol: str, at: datetime | None = None) -> Quote:
        """The last price set at or before ``at`` (default: the clock)."""
        at = at or self.clock()
        symbol = self.instrument(symbol).symbol
        price = [p for ts, p in self.table[symbol] if ts <= at][-1]
        return Quote(symbol, price, at)


@pytest.fixture
def db_url(tmp_path):
    """A fresh SQLite file with every table and two users (ids 1 and 2)."""
    url = f"sqlite:///{tmp_path / 'broker.db'}"
    SQLModel.metadata.create_all(get_engine(url))
    with Session(get_engine(url)) as session:
        session.add_all([User(id=1, username="alice", password_hash="x"),
                         User(id=2, username="bob", password_hash="x")])
        session.commit()
    return url


@pytest.fixture
def clock():
    """A clock pinned at T0."""
    return FixedClock(T0)


@pytest.fixture
def market(clock):
    """The stand-in feed with AAPL 100, BTCUSDT 60000 and EURUSD 1.1 at T0."""
    feed = TablePrices(clock)
    for symbol, price in (("AAPL", 100.0), ("BTCUSDT", 60_000.0), ("EURUSD", 1.1)):
        feed.set(symbol, price, T0)
    return feed


def make_broker(db_url, market, clock, **kwargs) -> PaperBroker:
    """A paper broker on the test database, starting cash 100000."""
    return PaperBroker(Database(db_url), market, clock=clock, **kwargs)


def order(key: str, symbol="AAPL", side="buy", quantity=10.0, **kwargs) -> OrderRequest:
    """An order request of user 1."""
    kwargs.setdefault("user_id", 1)
    return OrderRequest(symbol=symbol, side=side, quantity=quantity, idempotency_key=key,
                        **kwargs)


def count(db_url, model) -> int:
    """Number of rows of ``model``."""
    with Session(get_engine(db_url)) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_paper_broker_is_a_broker(db_url, market, clock):
    """PaperBroker satisfies the Broker protocol."""
    assert isinstance(make_broker(db_url, market, clock), Broker)


def test_market_buy_and_sell_fill_with_slippage(db_url, market, clock):
    """A market buy pays price x (1 + bps/1e4), a sell receives price x (1 - bps/1e4)."""
    broker = make_broker(db_url, market, clock, slippage_bps=10)
    buy = broker.place_order(order("e1:buy", quantity=10, execution_id=1, node_id="buy"))
    assert buy.status == OrderStatus.filled.value and buy.is_filled
    assert buy.avg_fill_price == pytest.approx(100.1)
    assert buy.filled_quantity == 10 and buy.filled_at == T0 and not buy.duplicate
    assert broker.account(1).cash == pytest.approx(100_000 - 1001.0)

    clock.advance(60)
    sell = broker.place_order(order("e1:sell", side="sell", quantity=4))
    assert sell.avg_fill_price == pytest.approx(99.9)
    assert broker.account(1).cash == pytest.approx(100_000 - 1001.0 + 399.6)
    with Session(get_engine(db_url)) as session:
        fills = session.exec(select(PaperFill).order_by(PaperFill.id)).all()
    assert [(f.side, f.quantity, round(f.price, 6)) for f in fills] == [
        ("buy", 10, 100.1), ("sell", 4, 99.9)]
    assert fills[1].ts == T0 + timedelta(seconds=60)


def test_average_price_and_realized_pnl_across_add_reduce_and_flip(db_url, market, clock):
    """Buy-more re-averages, a partial close realises P&L, a flip opens the rest at the fill."""
    broker = make_broker(db_url, market, clock, slippage_bps=0)
    steps = [  # price, side, qty -> expected (quantity, avg_price, realized_pnl)
        (100, "buy", 10, (10, 100, 0)),
        (110, "buy", 10, (20, 105, 0)),
        (120, "sell", 5, (15, 105, 75)),
        (90, "sell", 25, (-10, 90, 75 - 225)),
        (95, "sell", 10, (-20, 92.5, -150)),
        (80, "buy", 20, (0, 0, -150 + 250)),
    ]
    for i, (price, side, qty, (exp_qty, exp_avg, exp_pnl)) in enumerate(steps):
        clock.advance(60)
        market.set("AAPL", price, clock())
        broker.place_order(order(f"x:{i}", side=side, quantity=qty))
        with Session(get_engine(db_url)) as session:
            pos = session.exec(select(PaperPosition)).one()
        assert (pos.quantity, pos.avg_price) == (pytest.approx(exp_qty), pytest.approx(exp_avg))
        assert pos.realized_pnl == pytest.approx(exp_pnl)
    account = broker.account(1)
    # flat again: cash moved by exactly the realized P&L
    assert account.cash == pytest.approx(100_000 + 100)
    assert account.realized_pnl == pytest.approx(100)
    assert account.positions == [] and account.equity == pytest.approx(100_100)


def test_equity_is_cash_plus_positions_marked_at_a_later_price(db_url, market, clock):
    """Equity = cash + sum(qty x mark x contract size), including shorts and FX lots."""
    broker = make_broker(db_url, market, clock, slippage_bps=0)
    broker.place_order(order("k:fx", symbol="eurusd", quantity=0.1))  # 10,000 EUR at 1.1
    broker.place_order(order("k:btc", symbol="BTCUSDT", side="sell", quantity=0.005))
    cash = 100_000 - 0.1 * 1.1 * 100_000 + 0.005 * 60_000
    later = T0 + timedelta(hours=1)
    market.set("EURUSD", 1.12, later)
    market.set("BTCUSDT", 58_000.0, later)

    snap = broker.account(1, at=later)
    assert snap.cash == pytest.approx(cash)
    assert snap.equity == pytest.approx(cash + 0.1 * 1.12 * 100_000 - 0.005 * 58_000)
    assert snap.unrealized_pnl == pytest.approx(0.1 * 0.02 * 100_000 + 0.005 * 2_000)
    assert snap.equity == pytest.approx(100_000 + snap.unrealized_pnl)
    marks = {p.symbol: p.mark_price for p in snap.positions}
    assert marks == {"EURUSD": 1.12, "BTCUSDT": 58_000.0}
    assert broker.account(1, at=T0).equity == pytest.approx(100_000)


def test_limit_order_rests_until_price_crosses(db_url, market, clock):
    """A non-marketable limit stays open and fills in process_open_orders once reached."""
    broker = make_broker(db_url, market, clock, slippage_bps=1)
    rest = broker.place_order(order("l:buy", order_type="limit", limit_price=95, quantity=3))
    assert rest.status == OrderStatus.open.value and rest.filled_at is None
    assert count(db_url, PaperFill) == 0
    assert broker.account(1).cash == pytest.approx(100_000)

    t1, t2 = T0 + timedelta(minutes=5), T0 + timedelta(minutes=10)
    market.set("AAPL", 96.0, t1)
    market.set("AAPL", 94.0, t2)
    assert broker.process_open_orders(at=t1) == []
    filled = broker.process_open_orders(at=t2)
    assert [o.idempotency_key for o in filled] == ["l:buy"]
    assert filled[0].avg_fill_price == pytest.approx(94 * 1.0001)
    assert filled[0].filled_at == t2
    assert broker.process_open_orders(at=t2) == []  # filled once only
    assert count(db_url, PaperFill) == 1
    assert broker.get_order("l:buy").status == OrderStatus.filled.value


def test_marketable_limit_fills_now_and_open_limit_can_be_cancelled(db_url, market, clock):
    """A limit at or through the market fills at once; an open one can be cancelled."""
    broker = make_broker(db_url, market, clock, slippage_bps=0)
    now = broker.place_order(order("m:1", side="sell", order_type="limit", limit_price=99,
                                   quantity=2))
    assert now.status == OrderStatus.filled.value and now.avg_fill_price == pytest.approx(100)
    rest = broker.place_order(order("m:2", side="sell", order_type="limit", limit_price=101,
                                    quantity=2))
    assert rest.status == OrderStatus.open.value
    cancelled = broker.cancel_order("m:2")
    assert cancelled.status == OrderStatus.cancelled.value
    market.set("AAPL", 120.0, T0 + timedelta(minutes=1))
    assert broker.process_open_orders(at=T0 + timedelta(minutes=1)) == []
    with pytest.raises(InvalidInputError):
        broker.cancel_order("m:1")


def test_same_idempotency_key_twice_places_one_order(db_url, market, clock):
    """Re-placing an order with an existing key returns it without a second fill."""
    broker = make_broker(db_url, market, clock)
    key = idempotency_key(42, "order_1")
    assert key == "42:order_1"
    first = broker.place_order(order(key, execution_id=42, node_id="order_1"))
    clock.advance(3600)
    market.set("AAPL", 150.0, clock())
    again = broker.place_order(order(key, execution_id=42, node_id="order_1"))
    assert again.duplicate and not first.duplicate
    assert again.order_id == first.order_id
    assert again.avg_fill_price == first.avg_fill_price
    assert count(db_url, PaperOrder) == 1 and count(db_url, PaperFill) == 1
    assert broker.positions(1)[0].quantity == 10
    with pytest.raises(InvalidInputError) as info:
        broker.place_order(order(key, user_id=2))
    assert info.value.field == "idempotency_key"


def test_threads_racing_with_one_key_produce_one_order(db_url, market, clock):
    """Six threads placing the same key at once yield one order, one fill, one cash debit."""
    broker = make_broker(db_url, market, clock, slippage_bps=0)
    start = threading.Barrier(6)
    results, errors = [], []

    def place():
        start.wait()
        try:
            results.append(broker.place_order(order("race:1", quantity=5)))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=place) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len({r.order_id for r in results}) == 1 and len(results) == 6
    assert sum(not r.duplicate for r in results) == 1
    assert count(db_url, PaperOrder) == 1 and count(db_url, PaperFill) == 1
    assert broker.account(1).cash == pytest.approx(100_000 - 500)


def test_threads_with_different_keys_do_not_lose_updates(db_url, market, clock):
    """Concurrent orders of one user all land in cash and position (no lost update)."""
    broker = make_broker(db_url, market, clock, slippage_bps=0)
    start = threading.Barrier(5)

    def place(i):
        start.wait()
        broker.place_order(order(f"par:{i}", quantity=1))

    threads = [threading.Thread(target=place, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert count(db_url, PaperFill) == 5
    assert broker.positions(1)[0].quantity == 5
    assert broker.account(1).cash == pytest.approx(100_000 - 500)


@pytest.mark.parametrize(("request_kwargs", "field", "error"), [
    ({"quantity": 0}, "quantity", InvalidInputError),
    ({"quantity": -1}, "quantity", InvalidInputError),
    ({"quantity": float("nan")}, "quantity", InvalidInputError),
    ({"quantity": 2.5}, "quantity", InvalidInputError),  # AAPL trades whole shares
    ({"symbol": "BTCUSDT", "quantity": 0.0005}, "quantity", InvalidInputError),  # below min lot
    ({"order_type": "limit"}, "limit_price", InvalidInputError),
    ({"order_type": "limit", "limit_price": -3}, "limit_price", InvalidInputError),
    ({"limit_price": 100}, "limit_price", InvalidInputError),
    ({"order_type": "stop"}, "order_type", InvalidInputError),
    ({"side": "hold"}, "side", InvalidInputError),
    ({"symbol": "NOPE"}, "symbol", UnknownSymbolError),
    ({"key": ""}, "idempotency_key", InvalidInputError),
    ({"user_id": 99}, "user_id", NotFoundError),
], ids=lambda v: str(v) if not isinstance(v, dict) else "-".join(map(str, v.values())))
def test_invalid_orders_are_rejected_and_nothing_persisted(db_url, market, clock,
                                                           request_kwargs, field, error):
    """A bad order raises an InvalidInputError naming the field and writes no row at all."""
    broker = make_broker(db_url, market, clock)
    kwargs = dict(request_kwargs)
    key = kwargs.pop("key", "bad:1")
    with pytest.raises(error) as info:
        broker.place_order(order(key, **kwargs))
    assert info.value.field == field
    for model in (PaperOrder, PaperFill, PaperPosition, PaperAccount):
        assert count(db_url, model) == 0


def test_fee_and_untraded_account(db_url, market, clock):
    """fee_bps is charged on notional (cash and realized P&L); a new user reads starting cash."""
    broker = make_broker(db_url, market, clock, slippage_bps=0, fee_bps=10,
                         starting_cash=50_000)
    fresh = broker.account(2)
    assert (fresh.cash, fresh.equity, fresh.positions) == (50_000, 50_000, [])
    assert count(db_url, PaperAccount) == 0  # reading writes nothing
    result = broker.place_order(order("fee:1", quantity=10))
    assert result.fee == pytest.approx(1.0)
    snap = broker.account(1)
    assert snap.cash == pytest.approx(50_000 - 1000 - 1)
    assert snap.realized_pnl == pytest.approx(-1)
    assert snap.to_dict()["positions"][0]["symbol"] == "AAPL"
