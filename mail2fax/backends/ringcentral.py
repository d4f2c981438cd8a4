"""The RingCentral REST fax backend: the only module that sends faxes through RingCentral.

Every request waits for its rate-limit group in the shared RatePacer, carries the session's
access token (renewed once and retried once when RingCentral refuses it), and ends either as an
answer or as a mail2fax BackendError; no httpx exception leaves this module.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from mail2fax.backends.base import (
    FaxStatus,
    RecoveryResult,
    Settlement,
    Submission,
    TrackedFax,
)
from mail2fax.backends.pacing import AUTH, HEAVY, LIGHT, MEDIUM, RatePacer
from mail2fax.backends.request_json import fax_request_json
from mail2fax.backends.ringcentral_auth import TokenManager
from mail2fax.backends.ringcentral_wire import (
    MultipartBody,
    classify,
    error_details,
    fax_status,
    json_body,
    multipart_body,
    next_page,
    record_id,
    retry_after,
    same_fax,
    submission,
    utc_text,
)
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


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class RingCentralBackend:
    """Sends faxes with RingCentral's REST API and reads their outcome from the message store.

    ``client`` belongs to the caller and is never closed here. ``pacer`` is shared by every
    worker (one is made from ``settings`` if none is given). ``on_response(group, status)`` is
    called after every answer, so metrics can count requests and 429s. ``page_size`` is the
    ``perPage`` of message-store listings; ``clock`` (monotonic seconds) times token lifetimes.
    Timeouts are the client's own.
    """

    name = "ringcentral"

    def __init__(
        self,
        settings: RingCentralSettings,
        client: httpx.AsyncClient,
        *,
        pacer: RatePacer | None = None,
        on_response: Callable[[str, int], None] | None = None,
        page_size: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._client = client
        self._pacer = pacer if pacer is not None else RatePacer.from_settings(settings)
        self._on_response = on_response
        self._page_size = page_size
        self._base = settings.server_url.rstrip("/")
        self._auth = TokenManager(
            settings, client, self._send, window=lambda: self._pacer.window(AUTH), clock=clock
        )
        # Faxes RingCentral answered 404 for: gone for good, not asked about again.
        self._gone: set[str] = set()

    # -- the FaxBackend protocol -------------------------------------------------------------

    async def submit(self, job: Job, documents: Sequence[StoredDocument]) -> Submission:
        body = await multipart_body(fax_request_json(job), documents)
        response = await self._api(HEAVY, "POST", FAX_PATH, body=body)
        record = json_body(response)
        result = submission(record)
        if result.backend_id is None:
            # The fax may well be on its way: never let this look like "try again".
            raise PermanentBackendError(
                "RingCentral accepted the fax but its answer has no message id; "
                "check the account's sent faxes before sending it again"
            )
        log.debug(
            "job=%s ringcentral fax created fax_id=%s status=%s bytes=%d",
            job.id,
            result.backend_id,
            record.get("messageStatus"),
            body.length,
        )
        return result

    async def statuses(self, faxes: Sequence[TrackedFax]) -> dict[str, FaxStatus]:
        """One listing for all faxes, then a single read for each fax the listing lacks.

        A fax RingCentral no longer has (404) is left out, as the protocol asks; it is
        remembered and not asked about again, so the track stage's own timeout settles it.
        If a single read fails for a temporary reason, what is known so far is returned.
        """
        wanted = {fax.backend_id for fax in faxes}
        if not wanted:
            return {}
        since = min(_aware(fax.since) for fax in faxes) - CLOCK_SKEW
        found: dict[str, FaxStatus] = {}
        for record in await self._list(since):
            identity = record_id(record)
            if identity in wanted:
                found[identity] = fax_status(record)
        for backend_id in sorted(wanted - found.keys() - self._gone):
            path = f"{STORE_PATH}/{quote(backend_id, safe='')}"
            try:
                response = await self._api(LIGHT, "GET", path, missing_ok=True)
            except BackendAuthError:
                raise
            except TemporaryBackendError as exc:
                # Keep what the listing told; the rest is asked for on the next cycle.
                log.warning("ringcentral status reads interrupted: %s", exc)
                break
            if response.status_code == 404:
                self._gone.add(backend_id)
                log.warning("ringcentral fax_id=%s is no longer in the message store", backend_id)
                continue
            found[backend_id] = fax_status(json_body(response))
        return found

    async def ready(self) -> None:
        await self._pacer.wait_ready(HEAVY)

    async def recover(self, job: Job, known_ids: Collection[str]) -> RecoveryResult:
        started = _aware(job.submit_started_at or job.created_at)
        # Candidates may predate our own clock's start by the skew: more candidates can only
        # turn a match into AMBIGUOUS, never a sent fax into NOT_SENT.
        since = started - CLOCK_SKEW
        matches: dict[str, Mapping[str, Any]] = {}
        for record in await self._list(since):
            if same_fax(record, job, since, known_ids):
                identity = record_id(record)
                if identity is not None:
                    matches[identity] = record
        if len(matches) == 1:
            (record,) = matches.values()
            found = submission(record)
            return RecoveryResult(Settlement.FOUND, found, f"found fax_id={found.backend_id}")
        if matches:
            ids = ", ".join(sorted(matches))
            return RecoveryResult(Settlement.AMBIGUOUS, None, f"several faxes could be this job: {ids}")
        waited = (datetime.now(UTC) - started).total_seconds()
        if waited >= self._settings.listing_grace:
            return RecoveryResult(
                Settlement.NOT_SENT, None, f"no matching fax in the message store after {waited:.0f}s"
            )
        return RecoveryResult(
            Settlement.TOO_EARLY,
            None,
            f"no matching fax yet; the listing may lag up to {self._settings.listing_grace:.0f}s",
        )

    async def cancel(self, backend_id: str) -> None:
        path = f"{STORE_PATH}/{quote(backend_id, safe='')}"
        response = await self._api(MEDIUM, "DELETE", path, missing_ok=True)
        if response.status_code == 404:
            log.info("ringcentral fax_id=%s was already gone", backend_id)

    async def aclose(self) -> None:
        """Revoke the session, unless the Auth group is paused; the client stays open."""
        if self._pacer.wait_time(AUTH) > 0:
            self._auth.forget()
            return
        await self._auth.revoke()

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

    def _build(
        self,
        method: str,
        path: str,
        token: str,
        params: Mapping[str, str] | None,
        body: MultipartBody | None,
    ) -> httpx.Request:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
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
    ) -> httpx.Response:
        """One API call; a refused token is renewed once and the call retried once."""
        token = await self._auth.token()
        response = await self._send(group, self._build(method, path, token, params, body))
        if response.status_code == 401:
            code, _ = error_details(response)
            log.info("ringcentral refused the access token (%s); renewing it", code or "401")
            token = await self._auth.renew(token)
            response = await self._send(group, self._build(method, path, token, params, body))
        if response.is_success or (missing_ok and response.status_code == 404):
            return response
        raise classify(response, window=self._pacer.window(group))

    async def _send(self, group: str, request: httpx.Request) -> httpx.Response:
        """Send in ``group``'s turn; learn its rate-limit headers; translate transport errors."""
        permit = await self._pacer.acquire(group)
        try:
            response = await self._client.send(request)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TemporaryBackendError(f"cannot reach RingCentral: {type(exc).__name__}: {exc}") from exc
        except httpx.TimeoutException as exc:
            raise UncertainSubmission(f"RingCentral did not answer in time ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise UncertainSubmission(
                f"the connection to RingCentral broke: {type(exc).__name__}: {exc}"
            ) from exc
        finally:
            permit.finish()
        self._pacer.observe(group, response.headers)
        if response.status_code == 429:
            seconds = self._pacer.penalize(group, retry_after(response.headers))
            log.warning("ringcentral rate limit hit group=%s; group paused for %.0fs", group, seconds)
        if self._on_response is not None:
            self._on_response(group, response.status_code)
        return response
