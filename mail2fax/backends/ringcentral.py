"""The RingCentral REST fax backend: the only module that sends faxes through RingCentral.

Every request waits for its rate-limit group in the shared RatePacer, carries the session's
access token (renewed once and retried once when RingCentral refuses it), and ends either as an
answer or as a mail2fax BackendError; no httpx exception leaves this module.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from mail2fax.backends.base import (
    FaxStatus,
    RecoveryResult,
    Settlement,
    Submission,
    TrackedFax,
)
from mail2fax.backends.pacing import AUTH, HEAVY, LIGHT, MEDIUM, PacingJournal, Permit, RatePacer
from mail2fax.backends.request_json import fax_request_json
from mail2fax.backends.ringcentral_auth import TokenManager
from mail2fax.backends.ringcentral_records import fax_status, record_id, settle, submission
from mail2fax.backends.ringcentral_wire import (
    MultipartBody,
    classify,
    error_details,
    json_body,
    multipart_body,
    next_page,
    retry_after,
    utc_text,
)
from mail2fax.clock import WallClock, utcnow
from mail2fax.errors import (
    BackendAuthError,
    PermanentBackendError,
    TemporaryBackendError,
    UncertainSubmission,
)
from mail2fax.models import Job, StoredDocument
from mail2fax.settings import RingCentralSettings

log = logging.getLogger(__name__)

EXTENSION_PATH = "/restapi/v1.0/account/~/extension/~"
FAX_PATH = EXTENSION_PATH + "/fax"
STORE_PATH = EXTENSION_PATH + "/message-store"
# How far our clock and RingCentral's may disagree: listings start this much earlier.
CLOCK_SKEW = timedelta(minutes=2)
MAX_PAGES = 100
# Revoking the session at shutdown is a courtesy: it never holds up the exit for long.
REVOKE_TIMEOUT = 1.0
# Ids read with one bulk request (RingCentral limits a batch; the exact limit is not published).
BULK_READ = 20
BULK_JSON = "application/vnd.ringcentral.multipart+json"
# A message id as RingCentral issues them. Anything else (empty, a comma list, "*") would make a
# message-store path mean several messages, or all of them.
MESSAGE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def message_path(backend_id: str) -> str:
    if not MESSAGE_ID.fullmatch(backend_id):
        raise PermanentBackendError(f"{backend_id!r} is not a RingCentral message id")
    return f"{STORE_PATH}/{backend_id}"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class RingCentralBackend:
    """Sends faxes with RingCentral's REST API and reads their outcome from the message store.

    ``client`` belongs to the caller and is never closed here. ``pacer`` is shared by every
    worker (one is made from ``settings`` if none is given, keeping its windows in ``journal``).
    ``on_response(group, status)`` is called after every answer, so metrics can count requests
    and 429s. ``page_size`` is the ``perPage`` of message-store listings; ``clock`` (monotonic
    seconds) times token lifetimes; ``wall`` is the time of day (send times, recovery's grace).
    Timeouts are the client's own.
    """

    name = "ringcentral"

    def __init__(
        self,
        settings: RingCentralSettings,
        client: httpx.AsyncClient,
        *,
        pacer: RatePacer | None = None,
        journal: PacingJournal | None = None,
        on_response: Callable[[str, int], None] | None = None,
        page_size: int = 1000,
        clock: Callable[[], float] = time.monotonic,
        wall: WallClock = utcnow,
    ) -> None:
        self._settings = settings
        self._client = client
        self._wall = wall
        self._pacer = (
            pacer if pacer is not None else RatePacer.from_settings(settings, journal=journal, wall=wall)
        )
        self._on_response = on_response
        self._page_size = page_size
        self._base = settings.server_url.rstrip("/")
        self._auth = TokenManager(
            settings, client, self._send, window=lambda: self._pacer.window(AUTH), clock=clock, wall=wall
        )
        # Faxes RingCentral answered 404 for: gone for good, not asked about again.
        self._gone: set[str] = set()
        self._reserved: Permit | None = None
        if self._auth.grant == "password":
            log.warning(
                "RingCentral's password grant is deprecated and refused when the user has MFA on: "
                "set MAIL2FAX_RINGCENTRAL__JWT instead of __USERNAME and __PASSWORD"
            )

    # -- the FaxBackend protocol -------------------------------------------------------------

    async def submit(self, job: Job, documents: Sequence[StoredDocument]) -> Submission:
        body = await multipart_body(fax_request_json(job, now=self._wall()), documents)
        response = await self._api(HEAVY, "POST", FAX_PATH, body=body, uncertain=True)
        record = json_body(response)
        result = submission(record, [recipient.number for recipient in job.recipients])
        if result.backend_id is None:
            # RingCentral accepted something: the fax may well be on its way. Recovery finds it.
            raise UncertainSubmission(
                f"RingCentral answered {response.status_code} to the fax request without a message id"
            )
        log.debug(
            "ringcentral fax created",
            extra={
                "job": job.id,
                "fax_id": result.backend_id,
                "status": record.get("messageStatus"),
                "bytes": body.length,
            },
        )
        return result

    async def statuses(self, faxes: Sequence[TrackedFax]) -> dict[str, FaxStatus]:
        """One listing for all faxes, then bulk reads of the faxes the listing lacks.

        A fax RingCentral no longer has (404) is left out, as the protocol asks; it is
        remembered and not asked about again, so the track stage's own timeout settles it.
        If a read fails for a temporary reason, what is known so far is returned.
        """
        numbers = {fax.backend_id: fax.numbers for fax in faxes}
        if not numbers:
            return {}
        since = min(_aware(fax.since) for fax in faxes) - CLOCK_SKEW
        found: dict[str, FaxStatus] = {}
        for record in await self._list(since):
            identity = record_id(record)
            if identity is not None and identity in numbers:
                found[identity] = fax_status(record, numbers[identity])
        missing = sorted(
            backend_id
            for backend_id in numbers.keys() - found.keys() - self._gone
            if MESSAGE_ID.fullmatch(backend_id)
        )
        for start in range(0, len(missing), BULK_READ):
            try:
                read = await self._read(missing[start : start + BULK_READ])
            except BackendAuthError:
                raise
            except TemporaryBackendError as exc:
                # Keep what the listing told; the rest is asked for on the next cycle.
                log.warning("ringcentral status reads interrupted: %s", exc)
                break
            for backend_id, one in read.items():
                if one is None:
                    self._gone.add(backend_id)
                    log.warning(
                        "ringcentral fax no longer in the message store", extra={"fax_id": backend_id}
                    )
                else:
                    found[backend_id] = fax_status(one, numbers[backend_id])
        return found

    async def ready(self) -> None:
        """Log in and take the Heavy slot of the next fax request, which then leaves at once.

        The submit stage calls this before it marks a job ``submitting``, so a job waiting for
        a login or for its turn is still queued (and can be cancelled). An unused slot is kept
        for the next request.
        """
        await self._auth.token()
        if self._reserved is None:
            self._reserved = await self._pacer.acquire(HEAVY)

    async def recover(self, job: Job, known_ids: Collection[str]) -> RecoveryResult:
        started = _aware(job.submit_started_at or job.created_at)
        # Records may predate our own clock by the skew: more records can only turn a match into
        # AMBIGUOUS, never a sent fax into NOT_SENT.
        since = started - CLOCK_SKEW
        records = await self._list(since)
        waited = (self._wall() - started).total_seconds()
        grace = self._settings.listing_grace
        result = settle(records, job, known_ids, since=since, waited=waited, grace=grace)
        if result.settlement is Settlement.FOUND and result.submission is not None:
            log.info(
                "fax of an uncertain attempt listed by RingCentral",
                extra={
                    "job": job.id,
                    "fax_id": result.submission.backend_id,
                    "after": round(waited),
                    "listing_grace": round(grace),
                },
            )
        return result

    async def cancel(self, backend_id: str) -> None:
        path = message_path(backend_id)
        response = await self._api(MEDIUM, "DELETE", path, missing_ok=True)
        if response.status_code == 404:
            log.info("ringcentral fax was already gone", extra={"fax_id": backend_id})

    async def aclose(self) -> None:
        """Revoke the session, unless the Auth group is paused; the client stays open."""
        if self._pacer.wait_time(AUTH) > 0:
            self._auth.forget()
            return
        try:
            async with asyncio.timeout(REVOKE_TIMEOUT):
                await self._auth.revoke()
        except TimeoutError:
            log.info("ringcentral session not revoked: no answer within %.0fs", REVOKE_TIMEOUT)

    # -- diagnostics ---------------------------------------------------------------------------

    async def probe(self) -> dict[str, object]:
        """Log in and read the extension, to check settings without sending anything."""
        body = json_body(await self._api(LIGHT, "GET", EXTENSION_PATH))
        identity = body.get("id")
        return {
            "server_url": self._base,
            "grant": self._auth.grant,
            "extension_id": None if identity is None else str(identity),
            "extension_number": body.get("extensionNumber"),
            "name": body.get("name"),
            "status": body.get("status"),
            "rate_limits": self._pacer.snapshot(),
        }

    # -- plumbing ------------------------------------------------------------------------------

    async def _list(self, since: datetime) -> list[Mapping[str, Any]]:
        """Every outbound fax record from ``since`` on, following the listing's pages."""
        params: dict[str, str] | None = {
            "messageType": "Fax",
            "direction": "Outbound",
            "dateFrom": utc_text(since),
            "perPage": str(self._page_size),
        }
        path = STORE_PATH
        records: list[Mapping[str, Any]] = []
        visited: set[str] = set()
        for _ in range(MAX_PAGES):
            body = json_body(await self._api(LIGHT, "GET", path, params=params))
            page = body.get("records")
            if isinstance(page, list):
                records.extend(record for record in page if isinstance(record, dict))
            following = next_page(body)
            if following is None or following in visited:
                break
            visited.add(following)
            path, params = following, None
        return records

    async def _read(self, backend_ids: Sequence[str]) -> dict[str, Mapping[str, Any] | None]:
        """The records of these faxes, None for one RingCentral no longer has.

        One id is read with a plain GET (200); several with one bulk GET, answered ``207`` with a
        part per id (RingCentral's batch syntax, ``id1,id2``).
        """
        path = f"{STORE_PATH}/{','.join(backend_ids)}"
        accept = BULK_JSON if len(backend_ids) > 1 else "application/json"
        response = await self._api(LIGHT, "GET", path, missing_ok=True, accept=accept)
        if response.status_code == 404:
            return dict.fromkeys(backend_ids)
        if response.status_code != 207:
            record = json_body(response)
            return {backend_id: record for backend_id in backend_ids if record_id(record) == backend_id}
        try:
            parts = response.json()
        except ValueError:
            parts = None
        if not isinstance(parts, list):
            raise TemporaryBackendError("RingCentral's bulk answer is not a list of parts")
        found: dict[str, Mapping[str, Any] | None] = {}
        for part in parts:
            if not isinstance(part, dict):
                continue
            identity, status, body = str(part.get("resourceId", "")), part.get("status"), part.get("body")
            if identity not in backend_ids:
                continue
            if status == 404:
                found[identity] = None
            elif status == 200 and isinstance(body, dict):
                found[identity] = body
        return found

    def _build(
        self,
        method: str,
        path: str,
        token: str,
        params: Mapping[str, str] | None,
        body: MultipartBody | None,
        accept: str,
    ) -> httpx.Request:
        headers = {"Authorization": f"Bearer {token}", "Accept": accept}
        if body is not None:
            headers.update(body.headers())
        try:
            return self._client.build_request(
                method,
                self._base + path,
                params=params,
                headers=headers,
                content=body,
            )
        except httpx.InvalidURL as exc:
            raise TemporaryBackendError(f"the RingCentral server URL is not valid: {exc}") from exc

    async def _api(
        self,
        group: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: MultipartBody | None = None,
        missing_ok: bool = False,
        uncertain: bool = False,
        accept: str = "application/json",
    ) -> httpx.Response:
        """One API call; a refused token is renewed once and the call retried once.

        ``uncertain`` marks a fax request: a failure after it left raises UncertainSubmission.
        """
        token = await self._auth.token()
        request = self._build(method, path, token, params, body, accept)
        response = await self._send(group, request, uncertain=uncertain)
        if response.status_code == 401:
            code, _ = error_details(response)
            log.info("ringcentral refused the access token (%s); renewing it", code or "401")
            token = await self._auth.renew(token)
            request = self._build(method, path, token, params, body, accept)
            response = await self._send(group, request, uncertain=uncertain)
        if response.is_success or (missing_ok and response.status_code == 404):
            return response
        raise classify(response, window=self._pacer.window(group), now=self._wall(), uncertain=uncertain)

    async def _send(self, group: str, request: httpx.Request, *, uncertain: bool = False) -> httpx.Response:
        """Send in ``group``'s turn; learn its rate-limit headers; translate transport errors.

        A failure before the request left is temporary. After it left, a fax request
        (``uncertain``) may have been created, so that failure is an UncertainSubmission.
        """
        permit: Permit | None = None
        if group == HEAVY:
            permit, self._reserved = self._reserved, None
        if permit is None:
            permit = await self._pacer.acquire(group)
        permit.finish()  # stamped when it leaves, and again when its answer is in
        try:
            response = await self._client.send(request)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TemporaryBackendError(f"cannot reach RingCentral: {type(exc).__name__}: {exc}") from exc
        except httpx.HTTPError as exc:
            error = UncertainSubmission if uncertain else TemporaryBackendError
            if isinstance(exc, httpx.TimeoutException):
                raise error(f"RingCentral did not answer in time ({type(exc).__name__})") from exc
            raise error(f"the connection to RingCentral broke: {type(exc).__name__}: {exc}") from exc
        finally:
            permit.finish()
            await self._pacer.remember_request(group, permit)
        self._pacer.observe(group, response.headers)
        if response.status_code == 429:
            seconds = self._pacer.penalize(group, retry_after(response.headers, self._wall()))
            log.warning("ringcentral rate limit hit group=%s; group paused for %.0fs", group, seconds)
            await self._pacer.remember_pause(group)
        if self._on_response is not None:
            self._on_response(group, response.status_code)
        return response
