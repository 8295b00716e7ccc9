"""A local fake of the Binance spot REST API subset the live broker uses, on loopback.

It speaks what ccxt's ``binance`` calls for spot trading: ``/api/v3/ping``, ``time``,
``exchangeInfo``, ``ticker/24hr``, and the signed ``account``, ``order`` (POST/GET/DELETE) and
``openOrders``. Signed requests are checked like the real exchange: the ``X-MBX-APIKEY``
header must name a known key, ``signature`` must be the hex HMAC-SHA256 (keyed with that key's
secret) of the query string (GET/DELETE) or the form body (POST) before ``&signature=``, and
``timestamp`` must be within ``recvWindow`` of the server clock. Errors use Binance's codes.

Test knobs: ``prices``; ``delay_next`` (seconds to sleep before executing the next order
POST, to cause a client timeout); ``lose_next_response`` (execute the next order POST, then
drop the connection without answering); ``drop_next_request`` (drop the next order POST
without executing it); ``fail_lookups`` (answer that many ``GET /api/v3/order`` with 503);
``reject_next`` ((code, msg) for the next order POST); ``fill(client_id, qty)`` for partial
fills of resting orders. ``requests`` logs every request (method, path, params) for assertions.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

SYMBOLS = {
    "BTCUSDT": {"base": "BTC", "quote": "USDT", "step": "0.00001", "tick": "0.01",
                "min_notional": "5"},
    "ETHUSDT": {"base": "ETH", "quote": "USDT", "step": "0.0001", "tick": "0.01",
                "min_notional": "5"},
}
ORDER_PATH = "/api/v3/order"


@dataclass
class FakeOrder:
    """One order as the fake exchange keeps it."""

    order_id: int
    client_id: str
    api_key: str
    symbol: str
    side: str
    type: str
    qty: float
    price: float | None
    status: str = "NEW"
    executed: float = 0.0
    quote_qty: float = 0.0
    time_ms: int = 0
    locked: bool = False
    fills: list[dict] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        """The order as ``GET /api/v3/order`` shows it."""
        return {
            "symbol": self.symbol, "orderId": self.order_id, "orderListId": -1,
            "clientOrderId": self.client_id, "price": f"{self.price or 0:.8f}",
            "origQty": f"{self.qty:.8f}", "executedQty": f"{self.executed:.8f}",
            "cummulativeQuoteQty": f"{self.quote_qty:.8f}", "status": self.status,
            "timeInForce": "GTC", "type": self.type,
            "side": self.side, "stopPrice": "0.00000000", "icebergQty": "0.00000000",
            "time": self.time_ms, "updateTime": self.time_ms, "isWorking": True,
            "workingTime": self.time_ms, "origQuoteOrderQty": "0.00000000",
            "selfTradePreventionMode": "NONE",
        }


class FakeBinance:
    """The fake exchange: state, fault knobs and the aiohttp app; ``start()`` serves it."""

    def __init__(self, api_keys: dict[str, str] | None = None, *, fee_rate: float = 0.001):
        self.api_keys = dict(api_keys or {})
        self.balances: dict[str, dict[str, list[float]]] = {}
        self.prices: dict[str, float] = {"BTCUSDT": 50_000.0, "ETHUSDT": 3_000.0}
        self.fee_rate = fee_rate
        self.orders: dict[int, FakeOrder] = {}
        self.requests: list[dict[str, Any]] = []
        self.delay_next = 0.0
        self.lose_next_response = False
        self.drop_next_request = False
        self.fail_lookups = 0
        self.reject_next: tuple[int, str] | None = None
        self._ids = itertools.count(1001)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- test helpers -----------------------------------------------------------------------

    def fund(self, api_key: str, asset: str, amount: float) -> None:
        """Credit ``amount`` of ``asset`` (free) to the account of ``api_key``."""
        with self._lock:
            self.balances.setdefault(api_key, {}).setdefault(asset, [0.0, 0.0])[0] += amount

    def free(self, api_key: str, asset: str) -> float:
        """The free balance of ``asset``."""
        return self.balances.get(api_key, {}).get(asset, [0.0, 0.0])[0]

    def order_posts(self) -> list[dict[str, Any]]:
        """Every ``POST /api/v3/order`` received (whatever its outcome)."""
        return [r for r in self.requests if r["method"] == "POST" and r["path"] == ORDER_PATH]

    def by_client_id(self, client_id: str) -> FakeOrder | None:
        """The order with ``client_id`` (any account)."""
        return next((o for o in self.orders.values() if o.client_id == client_id), None)

    def fill(self, client_id: str, qty: float, price: float | None = None) -> FakeOrder:
        """Fill ``qty`` of a resting order (partially or the rest) at ``price`` (its limit)."""
        with self._lock:
            order = self.by_client_id(client_id)
            assert order is not None and order.status in ("NEW", "PARTIALLY_FILLED")
            self._execute(order, min(qty, order.qty - order.executed), price or order.price)
            return order

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    # -- serving ----------------------------------------------------------------------------

    def start(self) -> FakeBinance:
        """Serve on a free loopback port in a background thread; returns self."""
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        ready = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._runner = web.AppRunner(self.app(), handle_signals=False)
            self._loop.run_until_complete(self._runner.setup())
            site = web.SockSite(self._runner, sock)
            self._loop.run_until_complete(site.start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="fake-binance", daemon=True)
        self._thread.start()
        assert ready.wait(10), "fake exchange did not start"
        return self

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._loop is None or self._runner is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
        fut.result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        assert self._thread is not None
        self._thread.join(10)

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application()
        app.router.add_get("/api/v3/ping", self._ping)
        app.router.add_get("/api/v3/time", self._time)
        app.router.add_get("/api/v3/exchangeInfo", self._exchange_info)
        app.router.add_get("/api/v3/ticker/24hr", self._ticker)
        app.router.add_get("/api/v3/account", self._account)
        app.router.add_post(ORDER_PATH, self._new_order)
        app.router.add_get(ORDER_PATH, self._get_order)
        app.router.add_delete(ORDER_PATH, self._cancel_order)
        app.router.add_get("/api/v3/openOrders", self._open_orders)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        return app

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _error(code: int, msg: str, status: int = 400) -> web.Response:
        return web.json_response({"code": code, "msg": msg}, status=status)

    async def _log(self, request: web.Request) -> dict[str, str]:
        body = await request.text() if request.method == "POST" else ""
        params = dict(parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True))
        params.update(dict(parse_qsl(body, keep_blank_values=True)))
        self.requests.append({"method": request.method, "path": request.path,
                              "params": params,
                              "api_key": request.headers.get("X-MBX-APIKEY")})
        return params

    async def _signed(self, request: web.Request) -> tuple[str, dict[str, str]] | web.Response:
        """(api key, params) of a correctly signed request, else the error response."""
        params = await self._log(request)
        key = request.headers.get("X-MBX-APIKEY", "")
        secret = self.api_keys.get(key)
        if secret is None:
            return self._error(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        payload = (await request.text() if request.method == "POST"
                   else request.rel_url.raw_query_string)
        signed, sep, signature = payload.rpartition("&signature=")
        if not sep:
            return self._error(-1102, "Mandatory parameter 'signature' was not sent.")
        expected = hmac.new(secret.encode(), signed.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return self._error(-1022, "Signature for this request is not valid.")
        window = int(params.get("recvWindow", 5000))
        if abs(int(params.get("timestamp", 0)) - time.time() * 1000) > window:
            return self._error(-1021, "Timestamp for this request is outside of the recvWindow.")
        return key, params

    def _execute(self, order: FakeOrder, qty: float, price: float | None) -> None:
        """Trade ``qty`` of ``order`` at ``price``: balances, fills, status (lock held)."""
        if qty <= 0 or price is None:
            return
        spec = SYMBOLS[order.symbol]
        book = self.balances.setdefault(order.api_key, {})
        base = book.setdefault(spec["base"], [0.0, 0.0])
        quote = book.setdefault(spec["quote"], [0.0, 0.0])
        cost = qty * price
        fee = cost * self.fee_rate
        resting = order.locked
        if order.side == "BUY":
            if resting:
                quote[1] -= qty * (order.price or price)
                quote[0] += qty * (order.price or price) - cost
            else:
                quote[0] -= cost
            quote[0] -= fee
            base[0] += qty
        else:
            if resting:
                base[1] -= qty
            else:
                base[0] -= qty
            quote[0] += cost - fee
        order.executed += qty
        order.quote_qty += cost
        order.fills.append({"price": f"{price:.8f}", "qty": f"{qty:.8f}",
                            "commission": f"{fee:.8f}", "commissionAsset": spec["quote"],
                            "tradeId": next(self._ids)})
        order.status = "FILLED" if order.executed >= order.qty - 1e-12 else "PARTIALLY_FILLED"

    # -- public routes ----------------------------------------------------------------------

    async def _unknown(self, request: web.Request) -> web.Response:
        await self._log(request)
        return web.json_response({"code": -1, "msg": f"fake: no route {request.path}"},
                                 status=404)

    async def _ping(self, request: web.Request) -> web.Response:
        await self._log(request)
        return web.json_response({})

    async def _time(self, request: web.Request) -> web.Response:
        await self._log(request)
        return web.json_response({"serverTime": int(time.time() * 1000)})

    async def _exchange_info(self, request: web.Request) -> web.Response:
        await self._log(request)
        symbols = []
        for name, spec in SYMBOLS.items():
            symbols.append({
                "symbol": name, "status": "TRADING", "baseAsset": spec["base"],
                "baseAssetPrecision": 8, "quoteAsset": spec["quote"], "quotePrecision": 8,
                "quoteAssetPrecision": 8, "baseCommissionPrecision": 8,
                "quoteCommissionPrecision": 8,
                "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
                "icebergAllowed": True, "ocoAllowed": True, "isSpotTradingAllowed": True,
                "isMarginTradingAllowed": False, "permissions": ["SPOT"],
                "permissionSets": [["SPOT"]],
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": spec["tick"],
                     "maxPrice": "1000000.00", "tickSize": spec["tick"]},
                    {"filterType": "LOT_SIZE", "minQty": spec["step"], "maxQty": "9000.0",
                     "stepSize": spec["step"]},
                    {"filterType": "NOTIONAL", "minNotional": spec["min_notional"],
                     "applyMinToMarket": True, "maxNotional": "9000000.00",
                     "applyMaxToMarket": False, "avgPriceMins": 5},
                ],
            })
        return web.json_response({"timezone": "UTC", "serverTime": int(time.time() * 1000),
                                  "rateLimits": [], "exchangeFilters": [], "symbols": symbols})

    async def _ticker(self, request: web.Request) -> web.Response:
        params = await self._log(request)
        names = [params["symbol"]] if "symbol" in params else list(self.prices)
        out = []
        for name in names:
            if name not in self.prices:
                return self._error(-1121, "Invalid symbol.")
            p = self.prices[name]
            now = int(time.time() * 1000)
            out.append({"symbol": name, "priceChange": "0", "priceChangePercent": "0",
                        "weightedAvgPrice": str(p), "lastPrice": str(p), "lastQty": "1",
                        "bidPrice": str(p), "bidQty": "1", "askPrice": str(p), "askQty": "1",
                        "openPrice": str(p), "highPrice": str(p), "lowPrice": str(p),
                        "volume": "1", "quoteVolume": str(p), "openTime": now - 86_400_000,
                        "closeTime": now, "firstId": 1, "lastId": 1, "count": 1})
        return web.json_response(out[0] if "symbol" in params else out)

    # -- signed routes ----------------------------------------------------------------------

    async def _account(self, request: web.Request) -> web.Response:
        checked = await self._signed(request)
        if isinstance(checked, web.Response):
            return checked
        key, _ = checked
        balances = [{"asset": a, "free": f"{v[0]:.8f}", "locked": f"{v[1]:.8f}"}
                    for a, v in sorted(self.balances.get(key, {}).items())]
        return web.json_response({
            "makerCommission": 10, "takerCommission": 10, "canTrade": True,
            "canWithdraw": False, "canDeposit": False, "accountType": "SPOT",
            "updateTime": int(time.time() * 1000), "balances": balances,
            "permissions": ["SPOT"]})

    async def _new_order(self, request: web.Request) -> web.StreamResponse:
        checked = await self._signed(request)
        if isinstance(checked, web.Response):
            return checked
        key, p = checked
        if self.drop_next_request:
            self.drop_next_request = False
            assert request.transport is not None
            request.transport.close()  # never executed, never answered
            return web.Response(status=500)
        if self.delay_next:
            delay, self.delay_next = self.delay_next, 0.0
            await asyncio.sleep(delay)
        if self.reject_next is not None:
            (code, msg), self.reject_next = self.reject_next, None
            return self._error(code, msg)
        symbol = p.get("symbol", "")
        if symbol not in SYMBOLS:
            return self._error(-1121, "Invalid symbol.")
        otype, side = p.get("type", ""), p.get("side", "")
        if otype not in ("MARKET", "LIMIT") or side not in ("BUY", "SELL"):
            return self._error(-1116, "Invalid orderType.")
        try:
            qty = float(p["quantity"])
            price = float(p["price"]) if otype == "LIMIT" else None
        except (KeyError, ValueError):
            return self._error(-1102, "Mandatory parameter 'quantity' was not sent.")
        client_id = p.get("newClientOrderId") or f"fake{next(self._ids)}"
        with self._lock:
            if any(o.client_id == client_id and o.api_key == key
                   and o.status in ("NEW", "PARTIALLY_FILLED") for o in self.orders.values()):
                return self._error(-2010, "Duplicate order sent.")
            spec = SYMBOLS[symbol]
            book = self.balances.setdefault(key, {})
            market = self.prices[symbol]
            fill_now = otype == "MARKET" or (side == "BUY" and market <= price) or (
                side == "SELL" and market >= price)
            trade_price = market if fill_now else price
            need_asset = spec["quote"] if side == "BUY" else spec["base"]
            need = qty * trade_price * (1 + self.fee_rate) if side == "BUY" else qty
            have = book.get(need_asset, [0.0, 0.0])[0]
            if have + 1e-9 < need:
                return self._error(-2010,
                                   "Account has insufficient balance for requested action.")
            order = FakeOrder(next(self._ids), client_id, key, symbol, side, otype, qty, price,
                              time_ms=int(time.time() * 1000))
            self.orders[order.order_id] = order
            if fill_now:
                self._execute(order, qty, market)
            else:  # a resting limit order locks its funds
                asset = book.setdefault(need_asset, [0.0, 0.0])
                lock = qty * price if side == "BUY" else qty
                asset[0] -= lock
                asset[1] += lock
                order.locked = True
        if self.lose_next_response:
            self.lose_next_response = False
            assert request.transport is not None
            request.transport.close()  # executed, but the client never hears back
            return web.Response(status=500)
        body = order.view()
        body["transactTime"] = order.time_ms
        body["fills"] = order.fills
        return web.json_response(body)

    def _find(self, key: str, p: dict[str, str]) -> FakeOrder | None:
        if "orderId" in p:
            order = self.orders.get(int(p["orderId"]))
        else:
            cid = p.get("origClientOrderId")
            order = next((o for o in self.orders.values()
                          if o.client_id == cid and o.api_key == key), None)
        if order is None or order.api_key != key or order.symbol != p.get("symbol"):
            return None
        return order

    async def _get_order(self, request: web.Request) -> web.Response:
        checked = await self._signed(request)
        if isinstance(checked, web.Response):
            return checked
        key, p = checked
        if self.fail_lookups:
            self.fail_lookups -= 1
            return web.Response(status=503, text="Service Unavailable")
        order = self._find(key, p)
        if order is None:
            return self._error(-2013, "Order does not exist.")
        return web.json_response(order.view())

    async def _cancel_order(self, request: web.Request) -> web.Response:
        checked = await self._signed(request)
        if isinstance(checked, web.Response):
            return checked
        key, p = checked
        with self._lock:
            order = self._find(key, p)
            if order is None or order.status not in ("NEW", "PARTIALLY_FILLED"):
                return self._error(-2011, "Unknown order sent.")
            spec = SYMBOLS[order.symbol]
            book = self.balances.setdefault(key, {})
            rest = order.qty - order.executed
            asset = book[spec["quote"] if order.side == "BUY" else spec["base"]]
            unlock = rest * (order.price or 0) if order.side == "BUY" else rest
            asset[1] -= unlock
            asset[0] += unlock
            order.status = "CANCELED"
        return web.json_response(order.view())

    async def _open_orders(self, request: web.Request) -> web.Response:
        checked = await self._signed(request)
        if isinstance(checked, web.Response):
            return checked
        key, p = checked
        out = [o.view() for o in self.orders.values()
               if o.api_key == key and o.status in ("NEW", "PARTIALLY_FILLED")
               and ("symbol" not in p or o.symbol == p["symbol"])]
        return web.json_response(out)
