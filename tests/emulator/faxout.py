"""The legacy FaxOut form API (``POST /faxapi.asp``), as strict as its documentation.

The request is multipart/form-data with the fields the FaxOut page lists, each as often as it
allows; the answer is one integer: 0 accepted, 1 authorization failed, 2 faxing prohibited,
3 no recipients, 4 no fax data, 5 generic error. A request that breaks the documented format
is answered HTTP 400 and recorded in ``violations``, so a test sees exactly what was wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tests.emulator.http import Fault, FaultAction, FaultQueue, HTTPServer, Request, Response
from tests.emulator.multipart import MultipartError, parse_header_value, parse_multipart

FIELDS_ONCE = {
    "Username": 1,
    "Password": 1,
    "Coverpage": 1,
    "Coverpagetext": 1,
    "Resolution": 1,
    "Sendtime": 1,
}
TEXT_FIELDS = {*FIELDS_ONCE, "Recipient"}
USERNAME = re.compile(r"\d{11,15}(\*\d{1,7})?")
RECIPIENT = re.compile(r"\d{8,15}(\|[^|]*)?")
SENDTIME = re.compile(r"(\d\d):(\d\d):(\d\d) (\d\d):(\d\d)")


@dataclass
class Attachment:
    filename: str
    content_type: str | None
    data: bytes


@dataclass
class FaxOutRequest:
    fields: dict[str, list[str]] = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)
    answer: str = ""

    def one(self, name: str) -> str | None:
        values = self.fields.get(name, [])
        return values[0] if values else None


class FaxOutEmulator:
    def __init__(self, *, username: str = "16505550100", password: str = "test-password") -> None:
        self.username = username
        self.password = password
        self.prohibited = False
        self.requests: list[FaxOutRequest] = []
        self.violations: list[str] = []
        self._codes: list[int] = []
        self._faults = FaultQueue()
        self._server = HTTPServer()
        self._server.mount("/faxapi.asp", self._handle)

    @property
    def url(self) -> str:
        return f"{self._server.base_url}/faxapi.asp"

    @property
    def accepted(self) -> list[FaxOutRequest]:
        return [request for request in self.requests if request.answer == "0"]

    def answer_next(self, *codes: int) -> None:
        """Answer the next requests with these result codes, whatever they contain."""
        self._codes.extend(codes)

    def inject(
        self,
        *,
        status: int | None = None,
        body: str | None = None,
        action: FaultAction = "answer",
        delay: float = 0.0,
        times: int = 1,
        process: bool = False,
    ) -> None:
        """Make the next ``times`` requests get an HTTP error, a chosen body, a hang, a reset or a delay."""
        response = None
        if status is not None or body is not None:
            response = Response(status or 200, [("Content-Type", "text/html")], (body or "").encode())
        self._faults.add(
            Fault(lambda _request: True, action, response, delay=delay, process=process, remaining=times)
        )

    async def start(self) -> None:
        await self._server.start()

    async def stop(self) -> None:
        await self._server.stop()

    async def __aenter__(self) -> FaxOutEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _handle(self, request: Request) -> Response:
        return await self._faults.run(request, self._answer)  # type: ignore[return-value]

    async def _answer(self, request: Request) -> Response:
        if request.method != "POST":
            return Response(405, [("Allow", "POST")])
        try:
            received = self._parse(request)
        except (MultipartError, ValueError) as exc:
            self.violations.append(str(exc))
            return Response(400, [("Content-Type", "text/plain")], f"{exc}\n".encode())
        received.answer = str(self._code(received))
        self.requests.append(received)
        return Response(200, [("Content-Type", "text/html")], received.answer.encode())

    def _code(self, received: FaxOutRequest) -> int:
        if self._codes:
            return self._codes.pop(0)
        if received.one("Username") != self.username or received.one("Password") != self.password:
            return 1
        if self.prohibited:
            return 2
        if not received.fields.get("Recipient"):
            return 3
        if not received.attachments:
            return 4
        return 0

    def _parse(self, request: Request) -> FaxOutRequest:
        kind, params = parse_header_value(request.header("content-type") or "")
        if kind != "multipart/form-data" or "boundary" not in params:
            raise ValueError(f"Content-Type must be multipart/form-data with a boundary, not {kind!r}")
        received = FaxOutRequest()
        for part in parse_multipart(request.body, params["boundary"]):
            disposition, details = parse_header_value(part.headers.get("content-disposition", ""))
            name = details.get("name")
            if disposition != "form-data" or not name:
                raise ValueError("every part needs Content-Disposition: form-data with a name")
            if name == "Attachment":
                if not details.get("filename"):
                    raise ValueError("an Attachment part must carry the document's filename")
                received.attachments.append(
                    Attachment(details["filename"], part.headers.get("content-type"), part.body)
                )
                continue
            if name not in TEXT_FIELDS:
                raise ValueError(f"FaxOut has no field {name!r}")
            try:
                value = part.body.decode("ascii")
            except UnicodeDecodeError:
                raise ValueError(f"field {name} must be ASCII") from None
            received.fields.setdefault(name, []).append(value)
        self._check(received)
        return received

    @staticmethod
    def _check(received: FaxOutRequest) -> None:
        for name, limit in FIELDS_ONCE.items():
            if len(received.fields.get(name, [])) > limit:
                raise ValueError(f"field {name} may appear at most once")
        username = received.one("Username")
        if username is None or not USERNAME.fullmatch(username):
            raise ValueError(
                f"Username must be the phone number with country code [*extension], not {username!r}"
            )
        for recipient in received.fields.get("Recipient", []):
            if not RECIPIENT.fullmatch(recipient):
                raise ValueError(f"Recipient must be <number>|<name> without '+', not {recipient!r}")
        resolution = received.one("Resolution")
        if resolution is not None and resolution not in ("Low", "High"):
            raise ValueError(f"Resolution must be Low or High, not {resolution!r}")
        sendtime = received.one("Sendtime")
        if sendtime is not None:
            match = SENDTIME.fullmatch(sendtime)
            if not match or not (
                1 <= int(match[1]) <= 31 and 1 <= int(match[2]) <= 12 and int(match[4]) < 24
            ):
                raise ValueError(f"Sendtime must be GMT dd:mm:yy hh:mm, not {sendtime!r}")
