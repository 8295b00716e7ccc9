"""What every service of the facade shares: the acting user and the facade it belongs to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentic_app.db.engine import Database
    from agentic_app.services.app import AppServices
    from agentic_app.settings import Settings


@dataclass(frozen=True)
class Actor:
    """The user a facade method acts for: what ownership and admin checks need."""

    id: int
    username: str = ""
    is_admin: bool = False

    @classmethod
    def of(cls, user: Any) -> Actor:
        """The actor of a ``User`` row."""
        return cls(id=int(user.id), username=str(user.username), is_admin=bool(user.is_admin))


class Service:
    """Base of the facade's services: each one reaches the clients through its facade."""

    def __init__(self, app: AppServices) -> None:
        self._app = app

    @property
    def db(self) -> Database:
        """The process's database handle."""
        return self._app.db

    @property
    def settings(self) -> Settings:
        """The process Settings."""
        return self._app.settings
