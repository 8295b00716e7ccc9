"""rq-dashboard (a Flask blueprint) mounted under ``/rq`` of the FastAPI app, behind our login.

A request must carry a valid session cookie (``agentic_token``) or ``Authorization: Bearer
<token>`` that the facade's ``app.auth`` accepts. Otherwise a
browser page load (GET whose Accept names text/html) is redirected to the frontend's login
page, and anything else (the dashboard's JSON polling, API clients) gets 401.
rq-dashboard shows every user's RQ jobs, so only admins (``users.is_admin``) get in; other
logged-in users get 403. The Redis URL is the facade's (``app.redis_url()``); 503 while no
Redis answers.

Mutating actions (requeue, delete, empty, compact) are POST only, with a CSRF check: every
answer to an admin sets the cookie ``_csrf_token`` (an HMAC of the session token), which
rq-dashboard's own scripts send back as ``X-CSRFToken``; a POST without the matching value is
403, and the one mutating GET rq-dashboard offers (requeue a whole queue) is 405.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from flask import Flask, Response, current_app, g, request

from agentic_app import routes
from agentic_app.services.app import SESSION_COOKIE, AppServices

logger = logging.getLogger(__name__)


def _asgi_from_wsgi(app: Any) -> Any:
    """Wrap a WSGI app for ASGI: a2wsgi when installed, else Starlette's (deprecated) adapter."""
    try:
        from a2wsgi import WSGIMiddleware
    except ImportError:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from starlette.middleware.wsgi import WSGIMiddleware
    return WSGIMiddleware(app)


def request_token() -> str | None:
    """The bearer token of the current Flask request: Authorization header, else cookie."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(SESSION_COOKIE) or None


CSRF_COOKIE = "_csrf_token"
"""Cookie rq-dashboard's scripts read and send back as the CSRF_HEADER."""
CSRF_HEADER = "X-CSRFToken"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MUTATING_GET_ENDPOINTS = frozenset({"rq_dashboard.requeue_all"})
"""rq-dashboard routes that change data yet accept GET: refused on GET."""


def csrf_token(secret: str, session_token: str) -> str:
    """The CSRF token of one session: bound to it, useless with any other."""
    return hmac.new(secret.encode(), b"rq-dashboard-csrf:" + session_token.encode(),
                    hashlib.sha256).hexdigest()


def _wants_html() -> bool:
    """A browser navigation: GET naming text/html explicitly (XHR and API clients do not)."""
    return request.method == "GET" and "text/html" in request.headers.get("Accept", "")


def create_rq_dashboard_app(app: AppServices, *, login_url: str) -> Flask:
    """The Flask app serving rq-dashboard at its root, with our auth check in front."""
    from rq.serializers import JSONSerializer
    from rq_dashboard.web import blueprint
    from rq_dashboard.web import config as dashboard_config

    dashboard_config.serializer = JSONSerializer  # our jobs are JSON-serialized (global)
    # the templates use both the app's and the blueprint's 'static': serve the same folder
    static = Path(blueprint.root_path) / "static"
    flask_app = Flask(__name__, static_folder=str(static), static_url_path="/static")
    flask_app.config["RQ_DASHBOARD_REDIS_URL"] = None
    flask_app.register_blueprint(blueprint, url_prefix="")
    secret = app.settings.resolved_secret_key()

    @flask_app.before_request
    def _require_login_and_redis() -> Response | None:
        user = app.auth.actor_for_token(request_token())
        if user is None:
            if _wants_html():
                target = f"{login_url}?{urlencode({'next': request.url})}"
                return Response(status=303, headers={"Location": target})
            return Response('{"detail":"not authenticated"}', status=401,
                            mimetype="application/json",
                            headers={"WWW-Authenticate": "Bearer"})
        if not user.is_admin:
            return Response('{"detail":"rq-dashboard is for admins"}', status=403,
                            mimetype="application/json")
        g.agentic_user = user
        g.csrf_token = csrf_token(secret, request_token() or "")
        if request.method == "GET" and request.endpoint in MUTATING_GET_ENDPOINTS:
            return Response('{"detail":"use POST for this action"}', status=405,
                            mimetype="application/json", headers={"Allow": "POST"})
        if request.method not in SAFE_METHODS and not hmac.compare_digest(
                request.headers.get(CSRF_HEADER, ""), g.csrf_token):
            return Response('{"detail":"missing or wrong CSRF token"}', status=403,
                            mimetype="application/json")
        url = app.redis_url()
        if url is None:
            return Response("Redis is not available", status=503, mimetype="text/plain")
        if current_app.config["RQ_DASHBOARD_REDIS_URL"] != (url,):
            from rq_dashboard.web import setup_rq_connection

            current_app.config["RQ_DASHBOARD_REDIS_URL"] = url
            setup_rq_connection(current_app)  # stores (url,) and current_app.redis_conn
        return None

    @flask_app.after_request
    def _set_csrf_cookie(response: Response) -> Response:
        token = g.get("csrf_token")
        if token and request.cookies.get(CSRF_COOKIE) != token:
            response.set_cookie(CSRF_COOKIE, token, samesite="Strict",
                                path=request.script_root or "/")
        return response

    return flask_app


def mount_rq_dashboard(api: FastAPI, app: AppServices, *,
                       path: str = routes.RQ_DASHBOARD) -> None:
    """Mount the protected rq-dashboard on ``api`` at ``path`` (default ``/rq``)."""
    login_url = f"http://localhost:{app.settings.frontend_port}{routes.LOGIN}"
    try:
        mounted: Any = _asgi_from_wsgi(create_rq_dashboard_app(app, login_url=login_url))
    except ImportError as exc:  # a broken rq-dashboard install must not take the API down
        logger.error("rq-dashboard not mounted: %s", exc)
        mounted = PlainTextResponse(f"rq-dashboard is unavailable: {exc}", status_code=503)
    api.mount(path, mounted, name="rq-dashboard")
