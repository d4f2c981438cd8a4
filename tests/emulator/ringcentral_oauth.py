"""RingCentral's OAuth side for the emulator: sessions, tokens, and the Bearer check of API calls."""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from tests.emulator.http import Request, Response


def error(status: int, code: str, message: str, parameter: str | None = None, **extra: str) -> Response:
    """RingCentral's error body: top-level copies of the first error, then ``errors``."""
    detail: dict[str, str] = {"errorCode": code, "message": message}
    if parameter is not None:
        detail["parameterName"] = parameter
    payload: dict[str, Any] = {**detail, "errors": [detail], **extra}
    return Response.json(status, payload)


JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_FORM = "application/x-www-form-urlencoded"


@dataclass(slots=True)
class _Session:
    id: str
    endpoint_id: str
    access_token: str = ""
    refresh_token: str = ""
    access_issued: float = 0.0
    refresh_issued: float = 0.0
    access_ttl: float = 0.0
    refresh_ttl: float = 0.0
    access_expired: bool = False
    alive: bool = True


def _oauth_error(status: int, kind: str, code: str, message: str, parameter: str | None = None) -> Response:
    response = error(status, code, message, parameter, error=kind, error_description=message)
    if status == 401:
        response.headers.append(("WWW-Authenticate", 'Basic realm="RingCentral"'))
    return response


def _bad_parameter(name: str) -> Response:
    return _oauth_error(400, "invalid_request", "CMN-101", f"Parameter [{name}] value is invalid", name)


def _bearer_error(code: str, message: str) -> Response:
    response = error(401, code, message)
    response.headers.append(("WWW-Authenticate", 'Bearer realm="RingCentral"'))
    return response


class OAuthServer:
    """Sessions and tokens: the token and revoke endpoints, and the Bearer check of every API call.

    Tokens are random strings. A refresh token is single-use, and refreshing invalidates the
    session's previous access token. At most ``max_sessions`` sessions live at once: a new login
    beyond that ends the oldest, as RingCentral's "parallel active sessions" limit does.
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        jwt: str,
        username: str,
        extension: str,
        password: str,
        access_ttl: float,
        refresh_ttl: float,
        owner_id: str,
        clock: Callable[[], float],
    ) -> None:
        self.client_id, self.client_secret, self.jwt = client_id, client_secret, jwt
        self.username, self.extension, self.password = username, extension, password
        self.access_ttl, self.refresh_ttl = access_ttl, refresh_ttl
        self.owner_id = owner_id
        self.max_sessions: int | None = 5
        # Refresh tokens are issued only when the app enables them.
        self.refresh_tokens = True
        # The error table lists OAU-140 as 401; the token endpoint declares 400 for its errors.
        self.bad_credentials_status = 400
        self.grants: list[str] = []
        self._clock = clock
        self._sessions: list[_Session] = []
        self._by_access: dict[str, _Session] = {}
        self._by_refresh: dict[str, _Session] = {}

    def expire_all(self) -> None:
        for session in self._sessions:
            session.access_expired = True

    def revoke_all(self) -> None:
        for session in self._sessions:
            session.alive = False

    def authenticate(self, request: Request) -> Response | None:
        """None if the request carries a live Bearer token, else the 401 to answer."""
        value = request.header("authorization")
        if value is None:
            return _bearer_error("CMN-405", "Login to extension required.")
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer":
            return _bearer_error("OAU-151", "Authorization method not supported")
        session = self._by_access.get(token.strip())
        if session is None:
            return _bearer_error("OAU-149", "Unparsable access token")
        if not session.alive or session.access_token != token.strip():
            return _bearer_error("OAU-129", "Access token corrupted.")
        if session.access_expired or self._clock() >= session.access_issued + session.access_ttl:
            return _bearer_error("OAU-128", "Access token expired.")
        return None

    def _form(self, request: Request, *, query_allowed: bool) -> dict[str, str] | Response:
        """The client-authenticated form body, or the error to answer."""
        media = (request.header("content-type") or "").partition(";")[0].strip().lower()
        if (request.body or not query_allowed) and media != _FORM:
            return _oauth_error(415, "invalid_request", "CMN-104", f"Unsupported Media Type: use {_FORM}")
        if request.query and not query_allowed:
            message = (
                f"URL should not contain query string when method is [POST] and content type is [{_FORM}]"
            )
            return _oauth_error(400, "invalid_request", "CMN-105", message)
        value = request.header("authorization") or ""
        scheme, _, encoded = value.partition(" ")
        try:
            client_id, colon, secret = (
                base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            colon = ""
        if scheme.lower() != "basic" or not colon:
            return _oauth_error(
                401, "invalid_client", "OAU-123", f"Invalid Authorization header value: {value!r}"
            )
        if (client_id, secret) != (self.client_id, self.client_secret):
            return _oauth_error(401, "invalid_client", "OAU-146", "Invalid client credentials")
        try:
            pairs = parse_qsl(request.body.decode("ascii"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            return _oauth_error(400, "invalid_request", "CMN-104", "Cannot parse request")
        form = dict(pairs)
        if len(form) != len(pairs):
            return _oauth_error(400, "invalid_request", "OAU-111", "Request parameter duplication detected")
        return form

    def token(self, request: Request) -> Response:
        form = self._form(request, query_allowed=False)
        if isinstance(form, Response):
            return form
        grant = form.get("grant_type")
        required = {
            JWT_GRANT: ("assertion",),
            "password": ("username", "password"),
            "refresh_token": ("refresh_token",),
        }
        if grant is None:
            return _oauth_error(
                400, "invalid_request", "CMN-101", "Parameter [grant_type] value is invalid", "grant_type"
            )
        if grant not in required:
            return _oauth_error(
                400, "unsupported_grant_type", "OAU-125", "Grant type is not allowed for application."
            )
        for name in required[grant]:
            if not form.get(name):
                return _oauth_error(
                    400, "invalid_request", "CMN-101", f"Parameter [{name}] value is invalid", name
                )
        ttls: list[float] = []
        for name, low, high, configured in (
            ("access_token_ttl", 600, 3600, self.access_ttl),
            ("refresh_token_ttl", 1, 2592000, self.refresh_ttl),
        ):
            text = form.get(name)
            if text is not None and not (re.fullmatch(r"[0-9]{1,9}", text) and low <= int(text) <= high):
                return _oauth_error(
                    400, "invalid_request", "CMN-101", f"Parameter [{name}] value is invalid", name
                )
            ttls.append(min(configured, int(text)) if text is not None else configured)
        session: _Session | None = None
        if grant == "refresh_token":
            if not self.refresh_tokens:
                return _oauth_error(400, "invalid_grant", "OAU-211", "Token is revoked")
            session = self._by_refresh.get(form["refresh_token"])
            if session is None or not session.alive or session.refresh_token != form["refresh_token"]:
                return _oauth_error(400, "invalid_grant", "OAU-211", "Token is revoked")
            if self._clock() >= session.refresh_issued + session.refresh_ttl:
                return _oauth_error(400, "invalid_grant", "OAU-211", "Token is expired")
        elif (grant == JWT_GRANT and form["assertion"] != self.jwt) or (
            grant == "password"
            and (
                (form["username"], form["password"]) != (self.username, self.password)
                or form.get("extension", self.extension) != self.extension
            )
        ):
            return _oauth_error(
                self.bad_credentials_status, "invalid_grant", "OAU-140", "Invalid resource owner credentials."
            )
        return self._issue(grant, session, *ttls)

    def _issue(self, grant: str, session: _Session | None, access_ttl: float, refresh_ttl: float) -> Response:
        if session is None:
            session = _Session(secrets.token_hex(8), secrets.token_urlsafe(16))
            self._sessions.append(session)
            alive = [old for old in self._sessions if old.alive]
            while self.max_sessions is not None and len(alive) > self.max_sessions:
                alive.pop(0).alive = False
        now = self._clock()
        session.access_token, session.refresh_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        session.access_issued = session.refresh_issued = now
        session.access_ttl, session.refresh_ttl, session.access_expired = access_ttl, refresh_ttl, False
        self._by_access[session.access_token] = session
        self._by_refresh[session.refresh_token] = session
        self.grants.append(grant)
        body: dict[str, Any] = {
            "access_token": session.access_token,
            "token_type": "bearer",
            "expires_in": int(access_ttl),
        }
        if self.refresh_tokens:
            body |= {"refresh_token": session.refresh_token, "refresh_token_expires_in": int(refresh_ttl)}
        else:
            self._by_refresh.pop(session.refresh_token, None)
        body |= {
            "scope": "Faxes ReadMessages EditMessages ReadAccounts",
            "owner_id": self.owner_id,
            "endpoint_id": session.endpoint_id,
            "session_id": session.id,
        }
        return Response.json(200, body, [("Cache-Control", "no-store"), ("Pragma", "no-cache")])

    def revoke(self, request: Request) -> Response:
        form = self._form(request, query_allowed=True)
        if isinstance(form, Response):
            return form
        token = form.get("token") or next(iter(request.query.get("token", [])), None)
        if not token:
            return _oauth_error(
                400, "invalid_request", "CMN-101", "Parameter [token] value is invalid", "token"
            )
        session = self._by_access.get(token) or self._by_refresh.get(token)
        if session is not None:
            session.alive = False
        return Response(200)
