"""Broker page state: exchange credentials (write-only), safety limits, live orders and the
kill switch. Every change goes through ``app().broker`` / ``app().kill_switch``, off the
event loop; a credential's key and secret arrive in the form's submit payload only and are
never kept in a state var (the page shows the masked key)."""

from __future__ import annotations

import asyncio
from typing import Any

import reflex as rx

from agentic_app.domain.errors import AgenticError, InvalidInputError
from agentic_app.domain.live_trading import LIMIT_FIELDS, MAX_SECRET_LENGTH
from agentic_app.state.base import AppState
from agentic_app.state.common import app, error_text, fmt_time
from agentic_app.state.common import parse_id as _id

MAX_FIELD = MAX_SECRET_LENGTH
"""Longest value any form field of this page accepts (longer input is refused unread)."""


def _money(value: Any) -> str:
    return "—" if value is None else f"{float(value):,.2f}"


def _number(text: Any, name: str) -> float | None:
    """A limit override typed by the user: empty means none; InvalidInputError otherwise."""
    raw = str(text or "").strip()
    if not raw:
        return None
    if len(raw) > 32:
        raise InvalidInputError(f"{name} is too long", field=name)
    try:
        return float(raw)
    except ValueError:
        raise InvalidInputError(f"{name} must be a number", field=name) from None


class BrokerState(AppState):
    """The user's live-trading page."""

    credentials: list[dict[str, str]] = []
    orders: list[dict[str, str]] = []
    limits: list[dict[str, str]] = []
    today: str = ""
    engaged: bool = False
    halt_text: str = ""
    report_text: str = ""
    confirm_open: bool = False
    error: str = ""
    loaded: bool = False

    def _load(self) -> None:
        services, actor = app(), self._actor()
        self.credentials = [{
            "id": str(c["id"]), "exchange": c["exchange"], "label": c["label"] or "—",
            "mode": "sandbox" if c["sandbox"] else "mainnet", "key_hint": c["key_hint"],
            "created": fmt_time(c["created_at"])} for c in services.broker.credentials(actor)]
        rows, _ = services.broker.orders(actor, limit=50)
        self.orders = [{
            "id": str(o["id"]), "exchange": o["exchange"], "symbol": o["symbol"],
            "side": o["side"], "type": o["order_type"], "quantity": f"{o['quantity']:g}",
            "status": o["status"], "filled": f"{o['filled_quantity']:g}",
            "price": _money(o["avg_fill_price"] or o["limit_price"]),
            "notional": _money(o["notional"]), "reason": o["reason"] or "",
            "execution_id": str(o["execution_id"] or ""),
            "created": fmt_time(o["created_at"], seconds=True)} for o in rows]
        limits = services.broker.limits(actor)
        self.limits = [{"name": name, "label": name.replace("_", " "),
                        "default": _money(limits["defaults"][name]),
                        "override": "" if limits["overrides"][name] is None
                        else f"{limits['overrides'][name]:g}",
                        "effective": _money(limits["effective"][name])} for name in LIMIT_FIELDS]
        today = limits["today"]
        self.today = ("" if today is None else f"Today: {today['orders']} order(s), "
                      f"turnover {_money(today['turnover'])}")
        halt = services.kill_switch.status(actor)
        self.engaged = bool(halt["engaged"])
        self.halt_text = (f"Engaged {fmt_time(halt['engaged_at'])}: {halt['reason']}"
                          if halt["engaged"] else "Armed: runs and orders are allowed")
        report = halt["report"] or {}
        self.report_text = "" if not report else (
            f"Last engaged: {len(report.get('paused_schedules', []))} schedule(s) paused, "
            f"{report.get('cancelled_jobs', 0)} queued run(s) cancelled, "
            f"{len(report.get('cancelled_paper_orders', []))} paper and "
            f"{sum(len(v) for v in report.get('cancelled_live_orders', {}).values())} live "
            f"order(s) cancelled; errors: {'; '.join(report.get('errors', [])) or 'none'}")
        self.error, self.loaded = "", True

    async def _reload(self) -> None:
        try:
            await asyncio.to_thread(self._load)
        except AgenticError as exc:
            self.error = error_text(exc)

    @rx.event
    async def load_broker(self):
        """Load credentials, limits, orders and the kill switch (off the event loop)."""
        if not self._resolve():
            return
        await self._reload()

    async def _act(self, call: Any, *args: Any, done: str, warn: bool = False):
        """Run a facade call for the tab's user off the event loop, reload, say how it went."""
        try:
            await asyncio.to_thread(call, self._actor(), *args)
        except AgenticError as exc:
            return rx.toast.error(error_text(exc))
        await self._reload()
        return rx.toast.warning(done) if warn else rx.toast.success(done)

    @rx.event
    async def add_credential(self, form: dict):
        """Store an exchange key and secret (encrypted); only the masked key is shown."""
        if not self._resolve():
            return
        values = {k: form.get(k) for k in ("exchange", "api_key", "secret", "label")}
        if any(not isinstance(v, str | type(None)) or len(v or "") > MAX_FIELD
               for v in values.values()):
            return rx.toast.error(f"each field is at most {MAX_FIELD} characters")
        return await self._act(
            lambda actor: app().broker.add_credential(
                actor, exchange=values["exchange"] or "binance",
                api_key=values["api_key"] or "", secret=values["secret"] or "",
                label=values["label"] or "",
                sandbox=form.get("mainnet") not in ("on", True, "true")),
            done="Credential stored (encrypted)")

    @rx.event
    async def delete_credential(self, credential_id: str):
        """Delete one of the user's credentials."""
        if not self._resolve():
            return
        return await self._act(app().broker.delete_credential, _id(credential_id),
                               done="Credential deleted")

    @rx.event
    async def save_limits(self, form: dict):
        """Set the user's limit overrides (empty clears one; each may only tighten)."""
        if not self._resolve():
            return
        try:
            values = {name: _number(form.get(name), name) for name in LIMIT_FIELDS}
        except AgenticError as exc:
            return rx.toast.error(error_text(exc))
        return await self._act(app().broker.set_limits, values, done="Limits saved")

    @rx.event
    async def cancel_order(self, order_id: str):
        """Cancel one of the user's working live orders at the exchange."""
        if not self._resolve():
            return
        return await self._act(app().broker.cancel_order, _id(order_id),
                               done=f"Order {order_id} cancelled")

    @rx.event
    def set_confirm_open(self, value: bool):
        """Open or close the kill switch confirmation."""
        self.confirm_open = bool(value)

    @rx.event
    async def engage(self, form: dict):
        """Engage the kill switch: pause schedules, cancel queued runs and open orders."""
        if not self._resolve():
            return
        self.confirm_open = False
        return await self._act(app().kill_switch.engage, str(form.get("reason") or "")[:500],
                               done="Kill switch engaged: trading stopped", warn=True)

    @rx.event
    async def rearm(self):
        """Re-arm the kill switch (paused schedules stay paused)."""
        if not self._resolve():
            return
        return await self._act(app().kill_switch.rearm, done="Kill switch re-armed")
