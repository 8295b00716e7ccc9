"""Account and token name limits come from one place (domain/accounts.py) and hold on every
front end: the REST API (422 naming the field), the Reflex UI (a toast naming the limit,
nothing created) and the services the CLI uses."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from agentic_app.domain.accounts import MAX_TOKEN_NAME_LENGTH, MAX_USERNAME_LENGTH
from agentic_app.domain.errors import InvalidInputError
from agentic_app.state.tokens import TokensState
from tests.api.conftest import PASSWORD
from tests.security.conftest import API, Account
from tests.security.reflex_client import QUIET_PATH, ReflexClient, event_name


def test_rest_token_name_limit(env) -> None:
    """POST /auth/tokens with a name one over the limit is a 422 naming ``name``; at the
    limit it is created."""
    _, alice = env.user("alice")
    too_long = env.client.post(f"{API}/auth/tokens", headers=alice,
                               json={"name": "t" * (MAX_TOKEN_NAME_LENGTH + 1)})
    assert too_long.status_code == 422, too_long.text
    assert too_long.json()["field"] == "name"
    at_limit = env.client.post(f"{API}/auth/tokens", headers=alice,
                               json={"name": "t" * MAX_TOKEN_NAME_LENGTH})
    assert at_limit.status_code == 201, at_limit.text


def test_rest_and_service_username_limit(env) -> None:
    """An admin creating a user with a name one over the limit gets a 422 naming
    ``username``; the service (the CLI's path) refuses it the same way."""
    _, admin = env.user("root", admin=True)
    name = "u" * (MAX_USERNAME_LENGTH + 1)
    resp = env.client.post(f"{API}/auth/users", headers=admin,
                           json={"username": name, "password": PASSWORD})
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"] == "username"
    with pytest.raises(InvalidInputError) as exc:
        env.services.users.create(username=name, password=PASSWORD)
    assert exc.value.field == "username" and str(MAX_USERNAME_LENGTH) in exc.value.message


def test_ui_token_name_limit(reflex_app, account: Account) -> None:
    """Through the Reflex socket: a token name one over the limit gets an error toast naming
    the limit and no token; the user's tokens (REST) are unchanged."""
    def api_tokens() -> int:
        listed = httpx.get(f"{reflex_app.backend}{API}/auth/tokens", headers=account.headers,
                           timeout=30)
        return sum(1 for t in listed.json()["items"] if t["kind"] == "api")

    before = api_tokens()

    async def scenario() -> None:
        async with ReflexClient(reflex_app.backend, auth_token=account.token,
                                path=QUIET_PATH) as tab:
            await tab.emit(event_name(TokensState.set_new_name),
                           {"value": "t" * (MAX_TOKEN_NAME_LENGTH + 1)})
            mark = await tab.emit(event_name(TokensState.create))
            said = f"1 to {MAX_TOKEN_NAME_LENGTH} characters"
            await tab.wait_for(lambda: said in json.dumps(tab.events_since(mark)), 30,
                               "refusal toast")
            assert tab.var(TokensState, "created_token", "") == ""

    asyncio.run(scenario())
    assert api_tokens() == before
