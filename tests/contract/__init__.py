"""RingCentral's published schema as a contract: every exchange with the emulator is checked.

``ringcentral-fax-openapi.yaml`` beside this file is an unmodified excerpt of RingCentral's
published ``rc-public-openapi.yml`` (its header names the source and commit): the operations
mail2fax uses, with every schema they reference. :class:`Contract` validates a request and its
answer with openapi-core, a maintained OpenAPI 3 validator: path, method, query parameters,
request bodies, status codes and response bodies.

Where the published schema cannot describe a documented exchange, :data:`ERRATA` says so and
why; nothing else is relaxed.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import yaml
from jsonschema.exceptions import ValidationError
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.request.validators import V30RequestValidator
from openapi_core.validation.response.validators import V30ResponseValidator
from openapi_schema_validator import OAS30Validator

from tests.emulator.multipart import MultipartError, parse_header_value, parse_multipart

SCHEMA_FILE = Path(__file__).with_name("ringcentral-fax-openapi.yaml")
SERVER = "https://platform.ringcentral.com"
FAX_PATH = "/restapi/v1.0/account/{accountId}/extension/{extensionId}/fax"
READ_PATH = "/restapi/v1.0/account/{accountId}/extension/{extensionId}/message-store/{messageId}"

# Where the published schema and RingCentral's own documentation disagree, and what is done.
ERRATA = {
    "multipart/mixed": (
        "The fax request is sent as multipart/mixed, a JSON part and then the documents, as the "
        "developer guide's fax-multipart-formats page and the Ruby SDK send it; the schema declares "
        "only multipart/form-data. The JSON part and the first document are validated against the "
        "form-data schema's fields (to, faxResolution, coverIndex, coverPageText, sendTime, "
        "isoCode, attachment)."
    ),
    "vmSideRecipients": (
        "GetSingleMessageInfoResponse requires vmSideRecipients (minItems 1), a voicemail field, "
        "for every single-message read; fax records have no side recipients. The requirement is "
        "dropped for readMessage; every other rule of the schema stays."
    ),
    "form bodies": (
        "openapi-core reads an application/x-www-form-urlencoded body only through the schema's "
        "top-level properties, and the token request's schema is composed (allOf/anyOf): the form's "
        "fields are validated with openapi-schema-validator against the same schema instead."
    ),
    "password grant": (
        "The schema's token request lists no password grant: RingCentral deprecated it (developer "
        "guide, register-app page) but still documents it. A password-grant request's body is not "
        "checked against the schema; everything else of the exchange is."
    ),
    "error answers": (
        "Operations declare few error statuses. An error answer (4xx/5xx) not declared for its "
        "operation is checked against ApiErrorResponseModel, RingCentral's documented error body."
    ),
    "readExtension": (
        "GET .../extension/~ (used only by `mail2fax test-backend`) is not part of the excerpt and "
        "is not checked."
    ),
}
UNCHECKED_PATHS = ("/restapi/v1.0/account/~/extension/~",)
BULK_JSON = "application/vnd.ringcentral.multipart+json"
LONGEST = 400  # characters of a violation kept: enough to tell what and where


@cache
def _document() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(SCHEMA_FILE.read_text(encoding="utf-8"))
    patched = copy.deepcopy(spec)
    single = patched["components"]["schemas"]["GetSingleMessageInfoResponse"]["allOf"][1]
    single["required"] = [name for name in single["required"] if name != "vmSideRecipients"]
    if not single["required"]:
        del single["required"]
    return patched


@cache
def _openapi() -> OpenAPI:
    return OpenAPI.from_dict(_document())


# The bulk answer's media type is JSON under RingCentral's own name.
DESERIALIZERS = {BULK_JSON: json.loads}


def _schema_errors(schema: dict[str, Any], instance: Any) -> list[str]:
    rooted = {**schema, "components": _document()["components"]}
    validator = OAS30Validator(rooted)
    return [f"{_where(e)}: {e.message}" for e in validator.iter_errors(instance)]


def _where(error: ValidationError) -> str:
    return "/".join(map(str, error.absolute_path)) or "(body)"


def _causes(error: BaseException) -> Iterator[str]:
    yield f"{type(error).__name__}: {error}"
    for inner in getattr(error, "schema_errors", ()) or ():
        if isinstance(inner, ValidationError):
            yield f"  {_where(inner)}: {inner.message}"
    if error.__cause__ is not None and error.__cause__ is not error:
        yield from _causes(error.__cause__)


class Contract:
    """Checks exchanges against the schema; ``violations`` collects what did not conform."""

    def __init__(self) -> None:
        self.violations: list[str] = []
        self.checked = 0

    def check(
        self,
        *,
        method: str,
        path: str,
        query: str,
        request_headers: dict[str, str],
        request_body: bytes,
        fax_form: dict[str, Any] | None,
        status: int | None,
        response_headers: dict[str, str],
        response_body: bytes,
    ) -> list[str]:
        """Validate one exchange (``status`` None: no answer was given); ``fax_form`` is a fax
        request's fields as the emulator parsed them, None when they could not be parsed."""
        if path in UNCHECKED_PATHS:
            return []
        found: list[str] = []
        content_type = request_headers.get("content-type", "")
        args = dict(parse_qsl(query, keep_blank_values=True))
        multi = parse_qsl(query, keep_blank_values=True)
        is_fax = method == "POST" and path.endswith("/fax")
        password = b"grant_type=password" in request_body
        form_body = content_type.startswith("application/x-www-form-urlencoded")
        body_checked = not (is_fax or form_body)
        request = MockRequest(
            SERVER,
            method.lower(),
            path,
            args=_multi_dict(multi) if multi else args,
            data=request_body if body_checked else None,
            headers=request_headers,
            content_type=content_type.partition(";")[0] if body_checked and request_body else None,
        )
        with warnings.catch_warnings():
            # The schema's OAuth2 security scheme is not one openapi-core checks: ignore the note.
            warnings.simplefilter("ignore", UserWarning)
            result = V30RequestValidator(
                _openapi().spec, extra_media_type_deserializers=DESERIALIZERS
            ).iter_errors(request)
            errors = [e for e in result if not _is_security(e) and not (not body_checked and _is_body(e))]
        for error in errors:
            found.extend(f"request {method} {path}: {line}" for line in _causes(error))
        if form_body and not password and path in _document()["paths"]:
            content = _document()["paths"][path]["post"]["requestBody"]["content"]
            schema = content["application/x-www-form-urlencoded"]["schema"]
            fields = dict(parse_qsl(request_body.decode("ascii", "replace"), keep_blank_values=True))
            found.extend(f"request {method} {path}: {line}" for line in _schema_errors(schema, fields))
        if is_fax:
            if fax_form is None:
                found.append(f"request {method} {path}: not a fax request RingCentral could parse")
            else:
                content = _document()["paths"][FAX_PATH]["post"]["requestBody"]["content"]
                schema = content["multipart/form-data"]["schema"]
                found.extend(f"request {method} {path}: {line}" for line in _schema_errors(schema, fax_form))
        if status is not None:
            found.extend(self._check_response(request, method, path, status, response_headers, response_body))
        self.checked += 1
        found = [line if len(line) <= LONGEST else line[:LONGEST] + " …" for line in found]
        self.violations.extend(found)
        return found

    def _check_response(
        self,
        request: MockRequest,
        method: str,
        path: str,
        status: int,
        headers: dict[str, str],
        body: bytes,
    ) -> list[str]:
        content_type = headers.get("content-type", "application/json").partition(";")[0].strip()
        response = MockResponse(body, status_code=status, content_type=content_type, headers=headers)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            errors = list(
                V30ResponseValidator(
                    _openapi().spec, extra_media_type_deserializers=DESERIALIZERS
                ).iter_errors(request, response)
            )
        not_declared = [e for e in errors if type(e).__name__ == "ResponseNotFound"]
        if not_declared and status >= 400:
            try:
                payload = json.loads(body) if body else None
            except ValueError:
                return [f"response {status} to {method} {path}: the error body is not JSON"]
            model = {"$ref": "#/components/schemas/ApiErrorResponseModel"}
            return [
                f"response {status} to {method} {path}: {line}" for line in _schema_errors(model, payload)
            ]
        return [
            f"response {status} to {method} {path}: {line}" for error in errors for line in _causes(error)
        ]


def _multi_dict(pairs: list[tuple[str, str]]) -> Any:
    from werkzeug.datastructures import ImmutableMultiDict

    return ImmutableMultiDict(pairs)


def _is_security(error: BaseException) -> bool:
    return "Security" in type(error).__name__


def _is_body(error: BaseException) -> bool:
    return "Body" in type(error).__name__ or "MediaType" in type(error).__name__


def fax_form(content_type: str | None, body: bytes) -> dict[str, Any] | None:
    """A multipart fax request's JSON part and first document as the form-data fields the schema
    declares, or None when the body is not a multipart message with a JSON object first."""
    try:
        _, params = parse_header_value(content_type or "")
        parts = parse_multipart(body, params["boundary"])
        envelope = json.loads(parts[0].body.decode("utf-8"))
    except (MultipartError, KeyError, IndexError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(envelope, dict):
        return None
    form = dict(envelope)
    if len(parts) > 1:
        form["attachment"] = parts[1].body.decode("latin-1")
    return form
