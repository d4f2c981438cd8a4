"""The legacy RingCentral FaxOut form API: one multipart/form-data POST, an integer in reply.

FaxOut only says whether RingCentral accepted the fax; RingCentral mails the delivery result to
the account owner. A fax accepted here is therefore final in state ``accepted``.
"""

from __future__ import annotations

import contextlib
import logging
import unicodedata
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import IO, Any

import httpx

from mail2fax.backends.base import (
    UNCERTAIN_STATUSES,
    FaxStatus,
    Outcome,
    RecoveryResult,
    Settlement,
    Submission,
    TrackedFax,
)
from mail2fax.clock import WallClock, utcnow
from mail2fax.errors import (
    BackendAuthError,
    PermanentBackendError,
    TemporaryBackendError,
    UncertainSubmission,
)
from mail2fax.models import Job, StoredDocument
from mail2fax.settings import FaxOutSettings

log = logging.getLogger("mail2fax.faxout")

RESULT_WORDS = {
    1: "FaxOut authorization failed: check MAIL2FAX_FAXOUT__USERNAME, __EXTENSION and __PASSWORD",
    2: "faxing is prohibited for this RingCentral account",
    3: "FaxOut says no recipients were specified",
    4: "FaxOut says no fax data was specified",
    5: "FaxOut reported a generic error",
}


def ascii_text(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if 32 <= ord(ch) < 127 or ch in "\r\n\t")


def faxout_username(settings: FaxOutSettings) -> str:
    number = "".join(ch for ch in settings.username or "" if ch.isdigit())
    if settings.extension:
        return f"{number}*{settings.extension}"
    return number


def send_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%d:%m:%y %H:%M")


def form_fields(job: Job, settings: FaxOutSettings, *, now: datetime) -> list[tuple[str, str]]:
    """The text fields of the form, in the order the FaxOut documentation lists them."""
    password = settings.password.get_secret_value() if settings.password else ""
    fields = [("Username", faxout_username(settings)), ("Password", password)]
    for recipient in job.recipients:
        number = recipient.number.lstrip("+")
        name = ascii_text(recipient.name or "").replace("|", " ").strip()
        fields.append(("Recipient", f"{number}|{name}" if name else number))
    cover = job.options.cover
    if cover.kind == "none":
        fields.append(("Coverpage", "None"))
    elif cover.kind == "default":
        fields.append(("Coverpage", "Default"))
    elif cover.kind == "name" and cover.name:
        fields.append(("Coverpage", cover.name))
    if job.cover_text:
        fields.append(("Coverpagetext", ascii_text(job.cover_text)))
    fields.append(("Resolution", job.options.resolution.value))
    if job.options.send_at is not None and job.options.send_at > now:
        fields.append(("Sendtime", send_time(job.options.send_at)))
    return fields


class FaxOutBackend:
    name = "faxout"

    def __init__(self, settings: FaxOutSettings, client: httpx.AsyncClient, *, wall: WallClock = utcnow):
        self._settings = settings
        self._client = client
        self._wall = wall

    async def ready(self) -> None:
        return None

    async def submit(self, job: Job, documents: Sequence[StoredDocument]) -> Submission:
        fields = form_fields(job, self._settings, now=self._wall())
        with contextlib.ExitStack() as stack:
            files: list[tuple[str, tuple[str, IO[bytes], str]]] = []
            for doc in documents:
                handle = stack.enter_context(open(doc.path, "rb"))  # noqa: ASYNC230 (opening is instant; httpx streams the reads)
                files.append(("Attachment", (doc.filename, handle, doc.content_type)))
            data: dict[str, Any] = {}
            for name, value in fields:
                data.setdefault(name, []).append(value)
            try:
                response = await self._client.post(
                    self._settings.url, data=data, files=files, timeout=self._settings.timeout
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                raise TemporaryBackendError(f"FaxOut is unreachable: {type(exc).__name__}") from exc
            except httpx.HTTPError as exc:
                # The form went out and no answer came back: RingCentral may have the fax.
                raise UncertainSubmission(f"FaxOut gave no answer ({type(exc).__name__})") from exc
        return self._interpret(job, response)

    def _interpret(self, job: Job, response: httpx.Response) -> Submission:
        """One rule: an answer that proves nothing was accepted is retried; an answer after the
        form went out that proves nothing either way is uncertain (the job ends ``unknown``, as
        FaxOut cannot be asked later)."""
        status = response.status_code
        if status in UNCERTAIN_STATUSES:
            raise UncertainSubmission(f"FaxOut answered HTTP {status} after the form was sent")
        if status != 200:
            raise TemporaryBackendError(f"FaxOut answered HTTP {status}")
        text = response.text.strip()
        try:
            code = int(text)
        except ValueError:
            raise UncertainSubmission(
                f"FaxOut answered something that is not a result code: {ascii_text(text[:40])!r}"
            ) from None
        if code == 0:
            return Submission(
                backend_id=None,
                backend_uri=None,
                status=FaxStatus(Outcome.ACCEPTED, detail="accepted by RingCentral FaxOut"),
            )
        words = RESULT_WORDS.get(code)
        if words is None:
            raise UncertainSubmission(f"FaxOut answered an unknown result code {code}")
        if code == 1:
            raise BackendAuthError(words, code="FaxOut-1")
        if code in (3, 4):
            log.error(
                "FaxOut rejected our request as malformed: this is a defect in mail2fax",
                extra={"job": job.id, "error": f"{code}: {words}"},
            )
        if code == 5:
            raise TemporaryBackendError(words, code="FaxOut-5")
        raise PermanentBackendError(words, code=f"FaxOut-{code}")

    async def statuses(self, faxes: Sequence[TrackedFax]) -> dict[str, FaxStatus]:
        return {}

    async def recover(self, job: Job, known_ids: Collection[str]) -> RecoveryResult:
        return RecoveryResult(
            Settlement.AMBIGUOUS,
            detail="FaxOut cannot be asked whether RingCentral received the fax before the interruption.",
        )

    async def cancel(self, backend_id: str) -> None:
        raise PermanentBackendError("FaxOut faxes cannot be cancelled once accepted")

    async def aclose(self) -> None:
        return None
