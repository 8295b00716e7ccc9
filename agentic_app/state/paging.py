"""Paging shared by the list pages' states (a Reflex state mixin)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from agentic_app.state.common import pages


class PagedMixin(rx.State, mixin=True):
    """``page`` of ``total`` rows, the page count, and next/previous page events that reload
    the list through the state's :meth:`_reload`."""

    total: int = 0
    page: int = 1

    @rx.var
    def page_count(self) -> int:
        """Pages of the list."""
        return pages(self.total)

    def _reload(self) -> Any:
        """The event loading the current page (each state returns its own handler)."""
        raise NotImplementedError

    @rx.event
    def next_page(self):
        """Next page."""
        if self.page < self.page_count:
            self.page += 1
            return self._reload()

    @rx.event
    def prev_page(self):
        """Previous page."""
        if self.page > 1:
            self.page -= 1
            return self._reload()
