"""A stateful RingCentral REST API emulator: OAuth, fax creation, the message store, rate limits, faults.

It is a real HTTP server on loopback (see :mod:`tests.emulator.http`) that checks requests as
strictly as RingCentral documents them, remembers what it received, and lets a test decide how
each fax ends. Its clock can be moved forward with :meth:`RingCentralEmulator.advance`, so token
lifetimes, rate windows, listing delays and scheduled faxes are tested without sleeping.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import re
import time
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, urlencode

from tests.emulator.http import Fault, FaultQueue, HTTPServer, Reply, Request, Response
from tests.emulator.multipart import (
    MAX_TOTAL_BYTES,
    FaxRequestError,
    ReceivedDocument,
    parse_datetime,
    parse_fax_request,
)
from tests.emulator.ringcentral_oauth import OAuthServer, error
from tests.emulator.variants import Variants

if TYPE_CHECKING:
    from tests.contract import Contract

GROUPS = ("Heavy", "Medium", "Light", "Auth")
DEFAULT_LIMITS: dict[str, tuple[int, float]] = {
    "Heavy": (10, 60.0),
    "Medium": (40, 60.0),
    "Light": (50, 60.0),
    "Auth": (5, 60.0),
}
# FaxErrorCodeEnum, as a word list rather than 34 quoted strings.
FAX_ERROR_CODES = frozenset(
    "AllLinesInUse Undefined NoFaxSendPermission NoInternationalPermission NoFaxMachine NoAnswer "  # noqa: SIM905
    "LineBusy CallerHungUp NotEnoughCredits SentPartially InternationalCallingDisabled "
    "DestinationCountryDisabled UnknownCountryCode NotAccepted InvalidNumber CallDeclined "
    "TooManyCallsPerLine CallFailed RenderingFailed TooManyPages ReturnToDBQueue NoCallTime WrongNumber "
    "ProhibitedNumber InternalError FaxSendingProhibited ThePhoneIsBlacklisted UserNotFound ConvertError "
    "DBGeneralError SkypeBillingFailed AccountSuspended ProhibitedDestination InternationalDisabled".split()
)
MAX_REQUEST_BYTES = 55 * 1024 * 1024  # x-request-max-body-size: 55m
MAX_PER_PAGE = 1000
_API_PATH = re.compile(r"/restapi/v1\.0/account/([^/]+)/extension/([^/]+)(/.*)?")
_MESSAGE_PATH = re.compile(r"/message-store/([^/]+)")
BULK_JSON = "application/vnd.ringcentral.multipart+json"

Outcome = tuple[str, int | None, str | None]
Operation = Callable[..., Response]

__all__ = ["OAuthServer", "ReceivedDocument", "ReceivedFax", "RecordedRequest", "RingCentralEmulator"]


@dataclass(frozen=True, slots=True)
class ReceivedFax:
    """An accepted fax creation: ``json`` is the envelope, ``documents`` the parts after it."""

    id: str
    json: dict[str, Any]
    documents: list[ReceivedDocument]
    raw_content_type: str
    created_at: datetime


@dataclass(slots=True)
class RecordedRequest:
    """A request as the emulator saw it; ``status`` stays None when it was hung up or reset."""

    method: str
    path: str
    query: dict[str, list[str]]
    group: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)


@dataclass(slots=True)
class _Recipient:
    id: str
    number: str
    name: str | None
    status: str = "Queued"
    error_code: str | None = None
    written: str | None = None  # the number as message-store records write it


@dataclass(slots=True)
class _Message:
    id: int
    received: ReceivedFax
    recipients: list[_Recipient]
    resolution: str
    cover_index: int | None
    cover_text: str | None
    send_time: datetime | None
    created: datetime
    created_mono: float
    modified: datetime
    status: str = "Queued"
    pages: int | None = 0
    availability: str = "Alive"


@dataclass(slots=True)
class _Route:
    group: str
    operation: Operation | None = None
    args: tuple[str, ...] = ()
    refusal: Response | None = None
    account: str = "~"
    extension: str = "~"


class _RateLimiter:
    """Per group, at most ``limit`` requests in any ``window`` seconds.

    A refused request starts the penalty, and every request during the penalty restarts it.
    """

    def __init__(self) -> None:
        self.limits = dict(DEFAULT_LIMITS)
        self.rejected: Counter[str] = Counter()
        self._hits: defaultdict[str, deque[float]] = defaultdict(deque)
        self._penalty_until: dict[str, float] = {}

    def admit(self, group: str, now: float) -> int | None:
        """Count one request: the budget left, or None if it must be answered 429."""
        limit, window = self.limits[group]
        if self.remaining(group, now) == 0:
            self._penalty_until[group] = now + window
            self.rejected[group] += 1
            return None
        self._hits[group].append(now)
        return limit - len(self._hits[group])

    def remaining(self, group: str, now: float) -> int:
        limit, window = self.limits[group]
        hits = self._hits[group]
        while hits and hits[0] <= now - window:
            hits.popleft()
        if self._penalty_until.get(group, -math.inf) > now:
            return 0
        return max(0, limit - len(hits))

    def headers(self, group: str, remaining: int) -> list[tuple[str, str]]:
        limit, window = self.limits[group]
        return [
            ("X-Rate-Limit-Group", group.lower()),
            ("X-Rate-Limit-Limit", str(limit)),
            ("X-Rate-Limit-Remaining", str(remaining)),
            ("X-Rate-Limit-Window", str(whole_seconds(window))),
        ]


def whole_seconds(seconds: float) -> int:
    return max(1, math.ceil(seconds))


def iso(moment: datetime) -> str:
    """RingCentral's timestamp form: UTC, milliseconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _fault_body(status: int) -> dict[str, Any]:
    code, message = {
        401: ("OAU-128", "Access token expired."),
        403: ("CMN-401", "Specific application permission required"),
        404: ("CMN-102", "Resource for parameter [messageId] is not found"),
        429: ("CMN-301", "Request rate exceeded"),
    }.get(
        status,
        ("CMN-201", "Service Temporary Unavailable")
        if status >= 500
        else ("CMN-104", "Cannot parse request"),
    )
    return {"errorCode": code, "message": message, "errors": [{"errorCode": code, "message": message}]}


class RingCentralEmulator:
    """RingCentral's OAuth, fax and message-store endpoints on a loopback HTTP server."""

    def __init__(
        self,
        *,
        client_id: str = "test-client",
        client_secret: str = "test-secret",
        jwt: str = "test-jwt",
        username: str = "+16505550100",
        extension: str = "101",
        password: str = "test-password",
        access_ttl: float = 3600,
        refresh_ttl: float = 604800,
        server: HTTPServer | None = None,
    ) -> None:
        self.account_id = "400000001"
        self.extension_id = "400000101"
        self.extension = extension
        self.fax_number = username if re.fullmatch(r"\+[1-9][0-9]{6,14}", username) else "+16505550100"
        self.oauth = OAuthServer(
            client_id=client_id,
            client_secret=client_secret,
            jwt=jwt,
            username=username,
            extension=extension,
            password=password,
            access_ttl=access_ttl,
            refresh_ttl=refresh_ttl,
            owner_id=self.extension_id,
            clock=self._mono,
        )
        self.faxes: list[ReceivedFax] = []
        self.requests: list[RecordedRequest] = []
        self.auto_outcome: Callable[[ReceivedFax], Outcome] | None = None
        self.variants = Variants()
        # Set by a test to check every exchange against RingCentral's published schema.
        self.contract: Contract | None = None
        self.exchanges: list[tuple[Request, Response | None]] = []
        self.rng = random.Random(0)
        self.max_total_bytes = MAX_TOTAL_BYTES
        self.default_resolution = "Low"
        self._limiter = _RateLimiter()
        self._faults = FaultQueue()
        self._messages: dict[int, _Message] = {}
        self._ids = itertools.count(1_724_099_032_001)
        self._recipient_ids = itertools.count(9_000_001)
        self._skew = 0.0
        self._owns_server = server is None
        self.server = server if server is not None else HTTPServer()
        self.server.mount("/restapi", self.handle)

    # ---- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        """Stop the server, unless it was handed in (then its owner stops it)."""
        if self._owns_server:
            await self.server.stop()

    async def __aenter__(self) -> RingCentralEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def listing_delay(self) -> float:
        """Seconds a new fax takes to appear in message-store listings."""
        return self.variants.listing_delay

    @listing_delay.setter
    def listing_delay(self, seconds: float) -> None:
        self.variants.listing_delay = seconds

    def use(self, variants: Variants, *, seed: int = 0) -> None:
        """Answer in these documented shapes from now on; ``seed`` drives the per-record choices."""
        self.variants = variants
        self.rng = random.Random(seed)
        self.oauth.access_ttl = variants.access_ttl
        self.oauth.refresh_tokens = variants.refresh_tokens
        self.oauth.bad_credentials_status = variants.bad_credentials_status

    @property
    def token_grants(self) -> list[str]:
        """The grant_type of each token request that succeeded, in order."""
        return self.oauth.grants

    # ---- clock ------------------------------------------------------------------------------

    def _mono(self) -> float:
        return time.monotonic() + self._skew

    def _wall(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self._skew)

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock forward: token ages, rate windows, listing delay, sendTime."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._skew += seconds

    # ---- what it received -------------------------------------------------------------------

    def requests_in(self, group: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.group == group]

    def count_429(self, group: str) -> int:
        """How many requests of ``group`` the rate limiter refused (injected 429s are not counted)."""
        return self._limiter.rejected[group]

    def message(self, fax_id: str | int) -> dict[str, Any]:
        """The fax's current record as GET would show it, without applying ``auto_outcome``."""
        return self._render(self._find_or_raise(fax_id), created=False)

    # ---- rate limits, auth and faults -------------------------------------------------------

    @property
    def limits(self) -> dict[str, tuple[int, float]]:
        return dict(self._limiter.limits)

    def set_limit(self, group: str, limit: int, window: float) -> None:
        if group not in GROUPS or limit < 1 or window <= 0:
            raise ValueError(f"bad limit for {group}: {limit} per {window}s")
        self._limiter.limits[group] = (limit, window)

    def expire_tokens(self) -> None:
        """Every access token issued so far answers 401 OAU-128; refresh tokens still work."""
        self.oauth.expire_all()

    def revoke_tokens(self) -> None:
        """Every session ends: access tokens answer 401 OAU-129, refresh tokens 400 invalid_grant."""
        self.oauth.revoke_all()

    def inject(
        self,
        *,
        group: str | None = None,
        path: str | None = None,
        times: int = 1,
        status: int | None = None,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        action: Literal["answer", "hang", "reset", "slow"] = "answer",
        delay: float = 0.0,
        process: bool | None = None,
    ) -> None:
        """Make the next ``times`` requests of ``group`` (and/or under ``path``) misbehave.

        "answer" replies ``status`` with ``body`` (a RingCentral error body by default) instead of
        handling the request; "hang" never replies; "reset" drops the connection; "slow" replies
        normally (or with ``status``) after ``delay`` seconds. ``process`` says whether the request
        still takes effect (a fax is created) before the fault: by default only "slow" processes.
        Injected answers bypass authentication and do not use up rate-limit budget.
        """
        if group is not None and group not in GROUPS:
            raise ValueError(f"unknown group {group}")
        if body is not None and status is None:
            raise ValueError("a body needs a status")
        if action == "answer" and status is None and not headers:
            raise ValueError('action="answer" needs a status or headers')
        response = None
        if status is not None:
            response = Response.json(status, body if body is not None else _fault_body(status))

        def matches(request: Request) -> bool:
            return (group is None or self._route(request).group == group) and (
                path is None or request.path.startswith(path)
            )

        fault = Fault(
            matches=matches,
            action=action,
            response=response,
            headers=list((headers or {}).items()),
            delay=delay,
            process=(action == "slow") if process is None else process,
            remaining=times,
        )
        self._faults.add(fault)

    # ---- driving outcomes -------------------------------------------------------------------

    def complete(self, fax_id: str | int, *, pages: int = 1) -> None:
        """Queued → Sent, for every recipient, with ``pages`` pages."""
        self._complete(self._pending(fax_id), pages)

    def fail(
        self,
        fax_id: str | int,
        error_code: str = "LineBusy",
        *,
        pages: int | None = None,
        recipient: str | None = None,
    ) -> None:
        """Queued → SendingFailed: ``recipient`` (or everyone) fails with ``error_code``, the others are Sent.

        With ``pages=None`` the record carries no faxPageCount, as RingCentral sometimes does.
        """
        self._fail(self._pending(fax_id), error_code, pages, recipient)

    def _complete(self, message: _Message, pages: int | None) -> None:
        for person in message.recipients:
            person.status, person.error_code = "Sent", None
        message.status, message.pages, message.modified = "Sent", pages, self._wall()

    def _fail(self, message: _Message, code: str, pages: int | None, recipient: str | None) -> None:
        if code not in FAX_ERROR_CODES:
            raise ValueError(f"{code} is not a RingCentral faxErrorCode")
        if recipient is not None and all(person.number != recipient for person in message.recipients):
            raise ValueError(f"{recipient} is not a recipient of fax {message.id}")
        for person in message.recipients:
            failed = recipient is None or person.number == recipient
            person.status, person.error_code = ("SendingFailed", code) if failed else ("Sent", None)
        message.status, message.pages, message.modified = "SendingFailed", pages, self._wall()

    def _find(self, fax_id: str | int) -> _Message | None:
        try:
            return self._messages.get(int(fax_id))
        except ValueError:
            return None

    def _find_or_raise(self, fax_id: str | int) -> _Message:
        message = self._find(fax_id)
        if message is None:
            raise KeyError(f"no fax {fax_id}")
        return message

    def _pending(self, fax_id: str | int) -> _Message:
        message = self._find_or_raise(fax_id)
        if message.status != "Queued" or message.availability != "Alive":
            raise ValueError(f"fax {fax_id} is {message.status}/{message.availability}, not a queued fax")
        return message

    def _settle(self, message: _Message) -> None:
        """Apply ``auto_outcome`` to a queued fax whose send time has come."""
        if self.auto_outcome is None or message.status != "Queued" or message.availability != "Alive":
            return
        if message.send_time is not None and message.send_time > self._wall():
            return
        status, pages, code = self.auto_outcome(message.received)
        if status == "Sent":
            self._complete(message, pages)
        elif status == "SendingFailed":
            self._fail(message, code or "Undefined", pages, None)
        elif status != "Queued":
            raise ValueError(f"auto_outcome gave {status!r}; expected Sent, SendingFailed or Queued")

    # ---- dispatch ---------------------------------------------------------------------------

    async def handle(self, request: Request) -> Reply:
        """The HTTP handler for everything under /restapi."""
        route = self._route(request)
        record = RecordedRequest(
            request.method, request.path, request.query, route.group, headers=dict(request.headers)
        )
        self.requests.append(record)

        async def answer(request: Request) -> Response:
            return self._answer(request, route)

        reply = await self._faults.run(request, answer)
        if isinstance(reply, Response):
            if route.group and reply.header("X-Rate-Limit-Group") is None:
                reply.headers += self._limiter.headers(
                    route.group, self._limiter.remaining(route.group, self._mono())
                )
            reply.set_header("RCRequestId", str(uuid.uuid4()))
            record.status = reply.status
        if self.contract is not None:
            self.exchanges.append((request, reply if isinstance(reply, Response) else None))
        return reply

    def check_contract(self) -> list[str]:
        """Validate every exchange so far against the contract; returns all violations."""
        assert self.contract is not None
        exchanges, self.exchanges = self.exchanges, []
        for request, reply in exchanges:
            self._check_exchange(request, reply)
        return self.contract.violations

    def _check_exchange(self, request: Request, reply: Response | None) -> None:
        assert self.contract is not None
        from tests.contract import fax_form  # the contract reads requests with this package's parser

        form = None
        if request.method == "POST" and request.path.endswith("/fax"):
            form = fax_form(request.header("content-type"), request.body)
        self.contract.check(
            method=request.method,
            path=request.path,
            query=request.target.partition("?")[2],
            request_headers=dict(request.headers),
            request_body=request.body,
            fax_form=form,
            status=None if reply is None else reply.status,
            response_headers={name.lower(): value for name, value in reply.headers} if reply else {},
            response_body=reply.body if reply else b"",
        )

    def _route(self, request: Request) -> _Route:
        path = request.path
        if path in ("/restapi/oauth/token", "/restapi/oauth/revoke"):
            operation = self.oauth.token if path.endswith("token") else self.oauth.revoke
            return self._pick(request, {"POST": ("Auth", operation)})
        match = _API_PATH.fullmatch(path)
        if match is None:
            return _Route("", refusal=error(404, "CMN-120", "Invalid URI"))
        rest = match.group(3) or ""
        table: dict[str, tuple[str, Operation]]
        args: tuple[str, ...] = ()
        if rest == "":
            table = {"GET": ("Light", self._extension_info)}
        elif rest == "/fax":
            table = {"POST": ("Heavy", self._create_fax)}
        elif rest == "/message-store":
            table = {"GET": ("Light", self._list), "DELETE": ("Medium", self._delete_all)}
        elif found := _MESSAGE_PATH.fullmatch(rest):
            table = {"GET": ("Light", self._read), "DELETE": ("Medium", self._delete)}
            args = (found.group(1),)
        else:
            return _Route("", refusal=error(404, "CMN-120", "Invalid URI"))
        route = self._pick(request, table)
        route.args, route.account, route.extension = args, match.group(1), match.group(2)
        return route

    @staticmethod
    def _pick(request: Request, table: dict[str, tuple[str, Operation]]) -> _Route:
        if request.method not in table:
            refusal = error(405, "CMN-202", "Operation is not supported")
            refusal.headers.append(("Allow", ", ".join(table)))
            return _Route("", refusal=refusal)
        group, operation = table[request.method]
        return _Route(group, operation)

    def _answer(self, request: Request, route: _Route) -> Response:
        if route.operation is None:
            assert route.refusal is not None
            return route.refusal
        if route.group != "Auth" and (refusal := self.oauth.authenticate(request)) is not None:
            return refusal
        remaining = self._limiter.admit(route.group, self._mono())
        window = self._limiter.limits[route.group][1]
        if remaining is None:
            refused = error(429, "CMN-301", "Request rate exceeded")
            refused.headers += [
                ("Retry-After", str(whole_seconds(window))),
                *self._limiter.headers(route.group, 0),
            ]
            return refused
        if route.account not in ("~", self.account_id):
            response = error(404, "CMN-102", "Resource for parameter [accountId] is not found", "accountId")
        elif route.extension not in ("~", self.extension_id):
            response = error(403, "CMN-404", "Attempt to access another extension")
        else:
            response = route.operation(request, *route.args)
        response.headers += self._limiter.headers(route.group, remaining)
        return response

    # ---- endpoints --------------------------------------------------------------------------

    def _base(self) -> str:
        return f"{self.base_url}/restapi/v1.0/account/{self.account_id}/extension/{self.extension_id}"

    def _extension_info(self, request: Request) -> Response:
        return Response.json(
            200,
            {
                "uri": self._base(),
                "id": int(self.extension_id),
                "extensionNumber": self.extension,
                "name": "Test User",
                "type": "User",
                "status": "Enabled",
                "contact": {"firstName": "Test", "lastName": "User", "email": "test.user@example.com"},
                "account": {
                    "id": self.account_id,
                    "uri": f"{self.base_url}/restapi/v1.0/account/{self.account_id}",
                },
                "permissions": {"admin": {"enabled": False}, "internationalCalling": {"enabled": True}},
                "serviceFeatures": [{"featureName": "Fax", "enabled": True}],
                "setupWizardState": "Completed",
            },
        )

    def _create_fax(self, request: Request) -> Response:
        if len(request.body) > MAX_REQUEST_BYTES:
            return error(400, "MSG-338", "Message size limit exceeded")
        try:
            envelope = parse_fax_request(
                request.header("content-type"), request.body, max_total=self.max_total_bytes
            )
        except FaxRequestError as exc:
            return error(exc.status, exc.code, exc.message, exc.parameter)
        now = self._wall()
        fax_id = next(self._ids)
        received = ReceivedFax(
            str(fax_id), envelope.json, envelope.documents, request.header("content-type") or "", now
        )
        message = _Message(
            id=fax_id,
            received=received,
            recipients=[
                _Recipient(
                    str(next(self._recipient_ids)),
                    num,
                    name,
                    written=self.variants.record_number(num, self.rng),
                )
                for num, name in envelope.recipients
            ],
            resolution=envelope.resolution or self.default_resolution,
            cover_index=envelope.cover_index,
            cover_text=envelope.cover_text,
            send_time=envelope.send_time,
            created=now,
            created_mono=self._mono(),
            modified=now,
        )
        self.faxes.append(received)
        self._messages[fax_id] = message
        return Response.json(200, self._render(message, created=True))

    def _render(self, message: _Message, *, created: bool) -> dict[str, Any]:
        uri = f"{self._base()}/message-store/{message.id}"
        to: list[dict[str, Any]] = []
        for person in message.recipients:
            number = person.number if created else (person.written or person.number)
            entry: dict[str, Any] = {"recipientId": person.id, "phoneNumber": number}
            if person.name is not None:
                entry["name"] = person.name
            entry["messageStatus"] = person.status
            if person.error_code is not None:
                entry["faxErrorCode"] = person.error_code
            to.append(entry)
        record: dict[str, Any] = {"uri": uri, "id": message.id}
        if not created:
            record["extensionId"] = self.extension_id
        record |= {
            "to": to,
            "from": {"phoneNumber": self.fax_number, "extensionNumber": self.extension, "name": "Test User"},
            "type": "Fax",
            "creationTime": iso(message.created),
            "readStatus": "Unread",
            "priority": "Normal",
            "attachments": [
                {
                    "id": message.id,
                    "uri": f"{uri}/content/{message.id}",
                    "type": "RenderedDocument",
                    "contentType": "image/tiff",
                }
            ],
            "direction": "Outbound",
            "availability": message.availability,
            "messageStatus": message.status,
            "faxResolution": message.resolution,
        }
        if message.pages is not None:
            record["faxPageCount"] = message.pages
        record["lastModifiedTime"] = iso(message.modified)
        if message.cover_index is not None:
            record["coverIndex"] = message.cover_index
        if message.cover_text is not None and self.variants.cover_text:
            record["coverPageText"] = message.cover_text
        return record

    def _read(self, request: Request, message_id: str) -> Response:
        if "," in message_id:
            return self._read_bulk(message_id.split(","))
        message = self._find(message_id)
        if message is None or message.availability == "Purged":
            return error(404, "CMN-102", "Resource for parameter [messageId] is not found", "messageId")
        self._settle(message)
        return Response.json(200, self._render(message, created=False))

    def _read_bulk(self, message_ids: list[str]) -> Response:
        """Several messages at once: ``207`` with one part per id, each with its own status."""
        if any(not part for part in message_ids):
            return error(400, "CMN-101", "Parameter [messageId] value is invalid", "messageId")
        parts: list[dict[str, Any]] = []
        for message_id in message_ids:
            message = self._find(message_id)
            if message is None or message.availability == "Purged":
                body = error(404, "CMN-102", "Resource for parameter [messageId] is not found", "messageId")
                parts.append({"resourceId": message_id, "status": 404, "body": json.loads(body.body)})
                continue
            self._settle(message)
            record = self._render(message, created=False)
            parts.append({"resourceId": message_id, "status": 200, "body": record})
        response = Response.json(207, parts)
        response.set_header("Content-Type", f"{BULK_JSON}; charset=UTF-8")
        return response

    def _delete_all(self, request: Request) -> Response:
        """As documented: a DELETE without message ids deletes every message of the mailbox."""
        for message in self._messages.values():
            message.availability = "Deleted"
            message.modified = self._wall()
        return Response(204)

    def _delete(self, request: Request, message_id: str) -> Response:
        message = self._find(message_id)
        if message is None or message.availability == "Purged":
            return error(404, "CMN-102", "Resource for parameter [messageId] is not found", "messageId")
        purge = request.query.get("purge", ["false"])[-1].lower() == "true"
        message.availability = "Deleted" if message.availability == "Alive" and not purge else "Purged"
        message.modified = self._wall()
        return Response(204)

    def _list(self, request: Request) -> Response:
        query = request.query
        filters: dict[str, set[str] | None] = {}
        enums = {
            "messageType": {"Fax", "SMS", "VoiceMail", "Pager"},
            "direction": {"Inbound", "Outbound"},
            "availability": {"Alive", "Deleted", "Purged"},
            "readStatus": {"Read", "Unread"},
        }
        for name, allowed in enums.items():
            values = query.get(name)
            if values is not None and not set(values) <= allowed:
                return error(400, "CMN-101", f"Parameter [{name}] value is invalid", name)
            filters[name] = set(values) if values is not None else None
        scalars: dict[str, str | None] = {}
        for name in ("dateFrom", "dateTo", "page", "perPage"):
            values = query.get(name, [])
            if len(values) > 1:
                return error(400, "CMN-101", f"Parameter [{name}] value is invalid", name)
            scalars[name] = values[0] if values else None
        date_to = parse_datetime(scalars["dateTo"]) if scalars["dateTo"] is not None else self._wall()
        if date_to is None:
            return error(400, "CMN-101", "Parameter [dateTo] value is invalid", "dateTo")
        date_from = (
            parse_datetime(scalars["dateFrom"]) if scalars["dateFrom"] else date_to - timedelta(hours=24)
        )
        if date_from is None:
            return error(400, "CMN-101", "Parameter [dateFrom] value is invalid", "dateFrom")
        numbers: dict[str, int] = {}
        for name, default in (("page", 1), ("perPage", 100)):
            text = scalars[name]
            value = int(text) if text is not None and re.fullmatch(r"[0-9]{1,9}", text) else None
            value = default if text is None else value
            if value is None or value < 1:
                return error(400, "CMN-101", f"Parameter [{name}] value is invalid", name)
            numbers[name] = value
        # "Maximum value is 1000": a larger perPage is served as 1000, not refused.
        numbers["perPage"] = min(numbers["perPage"], MAX_PER_PAGE)
        page, per_page = numbers["page"], numbers["perPage"]

        now = self._mono()
        availability = filters["availability"] or {"Alive"}
        selected = [
            message
            for message in self._messages.values()
            if message.availability in availability
            and now - message.created_mono >= self.listing_delay
            and date_from <= message.created <= date_to
            and (filters["messageType"] is None or "Fax" in filters["messageType"])
            and (filters["direction"] is None or "Outbound" in filters["direction"])
            and (filters["readStatus"] is None or "Unread" in filters["readStatus"])
        ]
        selected.sort(key=lambda message: (message.created, message.id), reverse=True)
        total_pages = math.ceil(len(selected) / per_page)
        start = (page - 1) * per_page
        chunk = selected[start : start + per_page]
        for message in chunk:
            self._settle(message)

        def link(number: int) -> dict[str, str]:
            kept = [
                (key, value)
                for key, value in parse_qsl(request.target.partition("?")[2], keep_blank_values=True)
            ]
            kept = [(key, value) for key, value in kept if key not in ("page", "perPage")]
            kept += [("page", str(number)), ("perPage", str(per_page))]
            return {"uri": f"{self.base_url}{request.path}?{urlencode(kept)}"}

        paging: dict[str, int] = {"page": page, "perPage": per_page}
        if chunk:
            paging |= {"pageStart": start, "pageEnd": start + len(chunk) - 1}
        paging |= {"totalPages": total_pages, "totalElements": len(selected)}
        navigation = {"firstPage": link(1)}
        if page < total_pages:
            navigation["nextPage"] = link(page + 1)
        if page > 1:
            navigation["previousPage"] = link(min(page - 1, max(total_pages, 1)))
        if total_pages:
            navigation["lastPage"] = link(total_pages)
        body = {
            "uri": link(page)["uri"],
            "records": [self._render(message, created=False) for message in chunk],
            "paging": paging,
            "navigation": navigation,
        }
        return Response.json(200, body)
