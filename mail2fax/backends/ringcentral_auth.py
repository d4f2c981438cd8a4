"""RingCentral OAuth: one session per backend, shared by every caller.

The session starts with the JWT grant (or the legacy password grant when no JWT is set), is
renewed with the refresh token a little before the access token expires, and falls back to a
fresh login when the refresh token is rejected. Only one login or refresh runs at a time; the
others wait for it and use its result. Tokens, passwords and the JWT never reach a log line.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

import httpx

from mail2fax.backends.pacing import AUTH
from mail2fax.backends.ringcentral_wire import classify, json_body
from mail2fax.clock import WallClock, utcnow
from mail2fax.errors import BackendAuthError, TemporaryBackendError
from mail2fax.settings import RingCentralSettings

log = logging.getLogger(__name__)

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_PATH = "/restapi/oauth/token"  # noqa: S105 - an endpoint path, not a secret
REVOKE_PATH = "/restapi/oauth/revoke"
RETRY_REFRESH_AFTER = 30.0

# Sends one request in a rate-limit group and returns the answer, whatever its status.
Send = Callable[[str, httpx.Request], Awaitable[httpx.Response]]


@dataclass(frozen=True, slots=True)
class _Session:
    access_token: str
    expires_at: float
    renew_at: float
    refresh_token: str | None
    refresh_expires_at: float


def renewal_margin(lifetime: float) -> float:
    """Renew when 10 % of the lifetime or 60 s remain, whichever is more, but not before half."""
    return min(max(lifetime * 0.1, 60.0), lifetime * 0.5)


class TokenManager:
    """Hands out a valid access token, logging in or refreshing when needed."""

    def __init__(
        self,
        settings: RingCentralSettings,
        client: httpx.AsyncClient,
        send: Send,
        *,
        window: Callable[[], float],
        clock: Callable[[], float] = time.monotonic,
        wall: WallClock = utcnow,
    ) -> None:
        self._settings = settings
        self._client = client
        self._send = send
        self._window = window
        self._clock = clock
        self._wall = wall
        self._session: _Session | None = None
        self._lock = asyncio.Lock()

    @property
    def grant(self) -> str:
        return "jwt" if self._settings.jwt is not None else "password"

    async def token(self) -> str:
        """A valid access token; refreshes ahead of expiry, logs in when there is no session."""
        session = self._session
        if session is not None and self._clock() < session.renew_at:
            return session.access_token
        async with self._lock:
            session = self._session
            if session is not None and self._clock() < session.renew_at:
                return session.access_token
            return await self._renew(session)

    async def renew(self, rejected: str) -> str:
        """A new token after the API refused ``rejected`` (expired, revoked or corrupted).

        If another caller has already replaced that token, its replacement is returned.
        """
        async with self._lock:
            session = self._session
            if session is not None and session.access_token and session.access_token != rejected:
                return session.access_token
            if session is not None:
                # The refresh token may still work; the access token itself is dead.
                self._session = session = _Session(
                    "", 0.0, 0.0, session.refresh_token, session.refresh_expires_at
                )
            return await self._renew(session)

    async def _renew(self, session: _Session | None) -> str:
        now = self._clock()
        if session is not None and session.refresh_token and now < session.refresh_expires_at:
            try:
                refreshed = await self._request(
                    {"grant_type": "refresh_token", "refresh_token": session.refresh_token},
                    refreshing=True,
                )
            except BackendAuthError:
                log.info("ringcentral refresh token rejected; logging in again")
            except TemporaryBackendError:
                if session.access_token and now < session.expires_at:
                    # Try again a little later, not on every call until it expires.
                    pause = min(RETRY_REFRESH_AFTER, (session.expires_at - now) / 2)
                    self._session = replace(session, renew_at=now + pause)
                    log.warning("ringcentral token refresh failed; using the current token meanwhile")
                    return session.access_token
                raise
            else:
                log.info("ringcentral access token refreshed")
                return refreshed
        self._session = None
        token = await self._request(self._grant(), refreshing=False)
        log.info("ringcentral login grant=%s", self.grant)
        return token

    def _grant(self) -> dict[str, str]:
        settings = self._settings
        if settings.jwt is not None:
            return {"grant_type": JWT_GRANT, "assertion": settings.jwt.get_secret_value()}
        if settings.username and settings.password is not None:
            form = {
                "grant_type": "password",
                "username": settings.username,
                "password": settings.password.get_secret_value(),
            }
            if settings.extension:
                form["extension"] = settings.extension
            return form
        raise BackendAuthError("no RingCentral credentials: set a JWT, or a username and password")

    def _basic(self) -> str:
        settings = self._settings
        if not settings.client_id or settings.client_secret is None:
            raise BackendAuthError("the RingCentral client id and client secret are not set")
        pair = f"{settings.client_id}:{settings.client_secret.get_secret_value()}"
        return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")

    def _build(self, path: str, form: dict[str, str]) -> httpx.Request:
        try:
            return self._client.build_request(
                "POST",
                self._settings.server_url.rstrip("/") + path,
                data=form,
                headers={"Authorization": self._basic(), "Accept": "application/json"},
            )
        except httpx.InvalidURL as exc:
            raise BackendAuthError(f"the RingCentral server URL is not valid: {exc}") from exc

    async def _request(self, form: dict[str, str], *, refreshing: bool) -> str:
        response = await self._send(AUTH, self._build(TOKEN_PATH, form))
        if not response.is_success:
            error = classify(response, window=self._window(), now=self._wall(), auth=True)
            if isinstance(error, BackendAuthError) and not refreshing:
                log.error("ringcentral login refused: %s", error)
            raise error
        body = json_body(response)
        access = body.get("access_token")
        expires_in = body.get("expires_in")
        if not isinstance(access, str) or not access or not isinstance(expires_in, (int, float)):
            raise TemporaryBackendError("RingCentral's token answer has no access token or lifetime")
        now = self._clock()
        refresh = body.get("refresh_token")
        refresh_in = body.get("refresh_token_expires_in")
        self._session = _Session(
            access_token=access,
            expires_at=now + float(expires_in),
            renew_at=now + float(expires_in) - renewal_margin(float(expires_in)),
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            # Without a stated lifetime the refresh token is tried until RingCentral rejects it.
            refresh_expires_at=(
                now + float(refresh_in) if isinstance(refresh_in, (int, float)) else float("inf")
            ),
        )
        return access

    def forget(self) -> None:
        """Drop the session without telling RingCentral (it expires on its own)."""
        self._session = None

    async def revoke(self) -> None:
        """End the session at RingCentral; any failure is ignored, as RingCentral advises."""
        session, self._session = self._session, None
        if session is None or not session.access_token:
            return
        try:
            await self._send(AUTH, self._build(REVOKE_PATH, {"token": session.access_token}))
        except Exception:  # noqa: BLE001 - revocation is best effort and must never fail a shutdown
            log.debug("ringcentral session revocation failed; ignored")
        else:
            log.info("ringcentral session revoked")
