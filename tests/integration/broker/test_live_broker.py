"""The live broker against a local fake Binance (real HTTP, HMAC-signed requests checked)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from agentic_app.broker.base import Broker, OrderRequest, OrderStatus
from agentic_app.broker.exchanges import build_client, client_order_id
from agentic_app.broker.live import ExchangeUnavailableError
from agentic_app.db.broker_models import LiveOrder
from agentic_app.db.models import utcnow
from agentic_app.domain.errors import InvalidInputError, LimitExceededError, UnknownSymbolError
from tests.integration.broker.conftest import KEY, _users, make_broker


def _buy(user_id: int, key: str, qty: float = 0.01, **kw) -> OrderRequest:
    return OrderRequest(user_id=user_id, symbol="BTCUSDT", side="buy", quantity=qty,
                        idempotency_key=key, **kw)


def _rows(db) -> list[LiveOrder]:
    with Session(db.engine) as session:
        return list(session.exec(select(LiveOrder).order_by(LiveOrder.id)))


def test_market_buy_fills_and_is_recorded(fake, users):
    db, alice, _ = users
    broker = make_broker(fake, db, alice)
    assert isinstance(broker, Broker)
    result = broker.place_order(_buy(alice, "e1:buy"))
    assert result.status == OrderStatus.filled.value and not result.duplicate
    assert result.filled_quantity == pytest.approx(0.01)
    assert result.avg_fill_price == pytest.approx(50_000.0)
    assert result.fee == pytest.approx(0.01 * 50_000 * 0.001)
    assert fake.free(KEY, "BTC") == pytest.approx(1.01)
    assert fake.free(KEY, "USDT") == pytest.approx(10_000 - 500 - 0.5)
    posts = fake.order_posts()
    assert len(posts) == 1
    assert posts[0]["params"]["newClientOrderId"] == client_order_id("binance", "e1:buy")
    assert posts[0]["api_key"] == KEY and "signature" in posts[0]["params"]
    [row] = _rows(db)
    assert (row.status, row.exchange_order_id, row.notional) == (
        "filled", str(fake.by_client_id(row.client_order_id).order_id), pytest.approx(500.0))


def test_limit_order_rests_fills_partially_then_fully(fake, users):
    db, alice, _ = users
    broker = make_broker(fake, db, alice)
    result = broker.place_order(_buy(alice, "e2:limit", 0.02, order_type="limit",
                                     limit_price=49_000.0))
    assert result.status == "open" and result.filled_quantity == 0
    cid = client_order_id("binance", "e2:limit")
    fake.fill(cid, 0.005)
    partial = broker.get_order("e2:limit")
    assert partial is not None
    assert partial.status == OrderStatus.partially_filled.value
    assert partial.filled_quantity == pytest.approx(0.005)
    assert partial.avg_fill_price == pytest.approx(49_000.0)
    fake.fill(cid, 0.015)
    done = broker.get_order("e2:limit")
    assert done is not None and done.status == "filled"
    assert done.filled_quantity == pytest.approx(0.02)
    assert fake.free(KEY, "BTC") == pytest.approx(1.02)


def test_cancel_releases_a_resting_order(fake, users):
    db, alice, _ = users
    broker = make_broker(fake, db, alice)
    broker.place_order(_buy(alice, "e3:limit", 0.1, order_type="limit", limit_price=40_000.0))
    assert fake.free(KEY, "USDT") == pytest.approx(10_000 - 4_000)
    cancelled = broker.cancel_order("e3:limit")
    assert cancelled.status == "cancelled"
    assert fake.free(KEY, "USDT") == pytest.approx(10_000)
    with pytest.raises(InvalidInputError):
        broker.cancel_order("e3:limit")


def test_exchange_rejection_is_recorded_and_not_resent(fake, users):
    db, alice, _ = users
    broker = make_broker(fake, db, alice)
    result = broker.place_order(_buy(alice, "e4:big", 5.0))
    assert result.status == "rejected"
    assert "insufficient balance" in (result.reason or "")
    again = broker.place_order(_buy(alice, "e4:big", 5.0))
    assert again.duplicate and again.status == "rejected"
    assert len(fake.order_posts()) == 1
    assert [r.status for r in _rows(db)] == ["rejected"]


def test_a_wrong_secret_fails_the_signature_check(fake, users):
    db, alice, _ = users
    broker = make_broker(fake, db, alice, secret="not-the-secret")
    result = broker.place_order(_buy(alice, "e5:sig"))
    assert result.status == "rejected" and "Signature" in (result.reason or "")
    assert fake.orders == {}


def test_lost_response_is_resolved_by_asking_the_exchange(fake, users):
    db, alice, _ = users
    broker = make_broker(fake, db, alice)
    fake.lose_next_response = True
    result = broker.place_order(_buy(alice, "e6:lost"))
    assert result.status == "filled" and result.filled_quantity == pytest.approx(0.01)
    assert len(fake.order_posts()) == 1 and len(fake.orders) == 1
    retry = broker.place_order(_buy(alice, "e6:lost"))
    assert retry.duplicate and retry.order_id == result.order_id
    assert len(fake.order_posts()) == 1 and fake.free(KEY, "BTC") == pytest.approx(1.01)


def test_retry_after_a_lost_response_places_nothing_twice(fake, users):
    """The response is lost and the exchange cannot be asked either: the attempt fails
    (retryable) with the order unknown; the retry - another broker, as in a new worker
    process after the claim lapsed - finds the order by its client id and sends nothing."""
    db, alice, _ = users
    fake.lose_next_response = True
    fake.fail_lookups = 1
    first = make_broker(fake, db, alice, settle_seconds=0.2)
    with pytest.raises(ExchangeUnavailableError):
        first.place_order(_buy(alice, "e7:retry"))
    [row] = _rows(db)
    assert row.status == "new"
    later = lambda: utcnow() + timedelta(minutes=5)  # noqa: E731  (the claim has lapsed)
    second = make_broker(fake, db, alice, clock=later)
    result = second.place_order(_buy(alice, "e7:retry"))
    assert result.duplicate and result.status == "filled"
    assert len(fake.order_posts()) == 1 and len(fake.orders) == 1
    assert fake.free(KEY, "BTC") == pytest.approx(1.01)


def test_timeout_waits_for_a_slow_order_instead_of_sending_again(fake, users):
    """The exchange takes the order after the client gave up: the broker asks again once the
    request can no longer land and finds it - one order, not two."""
    db, alice, _ = users
    fake.delay_next = 1.5
    broker = make_broker(fake, db, alice, timeout=0.5, settle_seconds=3.0)
    started = time.monotonic()
    result = broker.place_order(_buy(alice, "e8:slow"))
    assert time.monotonic() - started >= 2.9  # it timed out, then waited out the window
    assert result.status == "filled"
    assert len(fake.order_posts()) == 1 and len(fake.orders) == 1


def test_a_dropped_request_is_sent_again_once(fake, users):
    db, alice, _ = users
    fake.drop_next_request = True
    broker = make_broker(fake, db, alice, settle_seconds=0.2)
    result = broker.place_order(_buy(alice, "e9:drop"))
    assert result.status == "filled"
    assert len(fake.order_posts()) == 2 and len(fake.orders) == 1


def test_concurrent_attempts_with_one_key_place_one_order(fake, db_url):
    db, alice, _ = _users(db_url)
    results, errors = [], []

    def attempt() -> None:
        try:
            results.append(make_broker(fake, db, alice).place_order(_buy(alice, "e10:race")))
        except ExchangeUnavailableError as exc:  # another attempt holds the claim
            errors.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) + len(errors) == 6 and results
    assert len(fake.order_posts()) == 1 and len(fake.orders) == 1
    assert len({r.order_id for r in results}) == 1
    assert len(_rows(db)) == 1


def test_guard_refusal_is_recorded_and_nothing_is_sent(fake, users):
    db, alice, _ = users
    seen = []

    def guard(order, notional, equity):
        seen.append((notional, equity()))
        raise LimitExceededError("order notional 500 is over 100", limit="max_order_notional")

    broker = make_broker(fake, db, alice, guard=guard)
    with pytest.raises(LimitExceededError) as info:
        broker.place_order(_buy(alice, "e11:limit"))
    assert info.value.limit == "max_order_notional"
    assert seen[0][0] == pytest.approx(500.0)
    assert seen[0][1] == pytest.approx(10_000 + 50_000)
    [row] = _rows(db)
    assert row.status == "rejected" and row.reason.startswith("max_order_notional:")
    with pytest.raises(LimitExceededError):
        broker.place_order(_buy(alice, "e11:limit"))
    assert fake.order_posts() == []


def test_bad_orders_write_nothing(fake, users):
    db, alice, bob = users
    broker = make_broker(fake, db, alice)
    with pytest.raises(UnknownSymbolError):
        broker.place_order(OrderRequest(user_id=alice, symbol="NOPEUSDT", side="buy",
                                        quantity=1, idempotency_key="x1"))
    with pytest.raises(InvalidInputError) as info:
        broker.place_order(_buy(alice, "x2", 0.000015))
    assert info.value.field == "quantity"
    with pytest.raises(InvalidInputError) as info:
        broker.place_order(_buy(bob, "x3"))
    assert info.value.field == "user_id"
    assert _rows(db) == [] and fake.order_posts() == []


def test_cancel_all_cancels_every_open_order(fake, users):
    db, alice, _ = users
    broker = make_broker(fake, db, alice)
    for i, price in enumerate((40_000.0, 41_000.0)):
        broker.place_order(_buy(alice, f"e12:{i}", 0.01, order_type="limit", limit_price=price))
    report = broker.cancel_all()
    assert len(report["cancelled"]) == 2 and report["errors"] == []
    assert {r.status for r in _rows(db)} == {"cancelled"}
    assert all(o.status == "CANCELED" for o in fake.orders.values())


def test_balances_positions_and_equity(fake, users):
    db, alice, _ = users
    broker = make_broker(fake, db, alice)
    assert broker.balances()["USDT"]["total"] == pytest.approx(10_000)
    [position] = broker.positions()
    assert (position.symbol, position.quantity, position.mark_price) == ("BTCUSDT", 1.0, 50_000)
    snapshot = broker.account()
    assert snapshot.equity == pytest.approx(60_000) and snapshot.currency == "USDT"


def test_sandbox_flag_and_fixed_urls():
    live = build_client("binance", api_key="k", secret="s", sandbox=False, timeout_seconds=1)
    sandbox = build_client("binance", api_key="k", secret="s", sandbox=True, timeout_seconds=1)
    assert live.urls["api"]["private"].startswith("https://api.binance.com/")
    assert sandbox.urls["api"]["private"].startswith("https://testnet.binance.vision/")
    for bad in ("http://169.254.169.254", "http://10.0.0.1:80", "ftp://127.0.0.1"):
        with pytest.raises(ValueError):
            build_client("binance", api_key="k", secret="s", sandbox=True, timeout_seconds=1,
                         test_base_url=bad)
    with pytest.raises(InvalidInputError):
        build_client("kraken", api_key="k", secret="s", sandbox=True, timeout_seconds=1)


def test_a_sell_limited_far_below_the_market_is_priced_at_the_market(fake, users):
    """A sell of 1 BTC limited at 0.01 fills at the market: the guard sees ~50 000, not ~0."""
    db, alice, _ = users
    seen = []

    def guard(order, notional, equity):
        seen.append(notional)
        if notional > 1_000:
            raise LimitExceededError(f"order notional {notional} is over 1000",
                                     limit="max_order_notional")

    broker = make_broker(fake, db, alice, guard=guard)
    with pytest.raises(LimitExceededError):
        broker.place_order(OrderRequest(user_id=alice, symbol="BTCUSDT", side="sell",
                                        quantity=1.0, order_type="limit", limit_price=0.01,
                                        idempotency_key="e20:sell"))
    assert seen == [pytest.approx(50_000.0)] and fake.order_posts() == []
    broker.place_order(_buy(alice, "e20:buy", 0.01, order_type="limit", limit_price=40_000.0))
    assert seen[1] == pytest.approx(400.0)  # a buy stays priced at its limit


def test_the_kill_switch_is_checked_again_before_the_second_send(fake, users):
    """Engaged while the first send's response was lost: the order is not sent again."""
    from agentic_app.db.broker_models import TradingHalt

    db, alice, _ = users
    broker = make_broker(fake, db, alice, settle_seconds=0.0)
    real_settle = broker._settle

    def settle_then_engage(row, sent):
        with Session(db.engine) as session:
            session.add(TradingHalt(user_id=alice, engaged=True))
            session.commit()
        return real_settle(row, sent)

    broker._settle = settle_then_engage
    import ccxt

    real_create = broker.client.create_order
    calls = []

    def lost_create(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise ccxt.RequestTimeout("lost")
        return real_create(*args, **kwargs)

    broker.client.create_order = lost_create
    with pytest.raises(LimitExceededError) as info:
        broker.place_order(_buy(alice, "e21:halt"))
    assert info.value.limit == "kill_switch" and len(calls) == 1
    [row] = _rows(db)
    assert row.status == "rejected" and row.reason.startswith("kill_switch:")
    assert fake.order_posts() == []


def test_a_refused_key_is_a_credential_error_and_the_row_is_rejected(fake, users):
    db, alice, _ = users
    broker = make_broker(fake, db, alice, key="unknown-key-0123456789",
                         guard=lambda order, notional, equity: equity())
    with pytest.raises(InvalidInputError) as info:
        broker.balances()
    assert info.value.field == "credential" and "Invalid API-key" in info.value.message
    with pytest.raises(InvalidInputError) as info:
        broker.place_order(_buy(alice, "e22:key"))
    assert info.value.field == "credential"
    [row] = _rows(db)
    assert row.status == "rejected" and row.reason.startswith("exchange: ")
    again = broker.place_order(_buy(alice, "e22:key"))
    assert again.duplicate and again.status == "rejected"
    assert fake.order_posts() == []


def test_another_exchange_error_is_service_unavailable(fake, users):
    import ccxt

    from agentic_app.domain.errors import ServiceUnavailableError

    db, alice, _ = users
    broker = make_broker(fake, db, alice)

    def refuse(*args, **kwargs):
        raise ccxt.ExchangeError('binance {"code":-1003,"msg":"Too many requests."}')

    broker.client.fetch_open_orders = refuse
    with pytest.raises(ServiceUnavailableError):
        broker._call("fetch_open_orders")
    report = broker.cancel_all()
    assert report["cancelled"] == [] and "Too many requests" in report["errors"][0]
