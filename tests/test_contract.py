"""The contract check itself: RingCentral's published schema catches what strays from it.

Every test that uses the ``rc`` fixture has each exchange validated when it ends (see
``tests/conftest.py``); these tests show that the check fails when a request or an answer leaves
the schema, and that the daemon's own traffic, in every documented variant, passes it.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from mail2fax.backends.base import Settlement, TrackedFax
from mail2fax.backends.ringcentral import RingCentralBackend
from tests.contract import ERRATA, Contract
from tests.emulator import RingCentralEmulator
from tests.emulator.variants import Variants
from tests.samples.other import pdf_bytes
from tests.test_emulator import STORE, bearer, body, doc, json_part, login, send_fax
from tests.test_ringcentral_backend import make_job, rc_settings, spool


@pytest.fixture
async def checked() -> AsyncIterator[RingCentralEmulator]:
    async with RingCentralEmulator() as emulator:
        emulator.contract = Contract()
        yield emulator


@pytest.fixture
async def client(checked: RingCentralEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=checked.base_url, timeout=5) as http_client:
        yield http_client


async def test_an_answer_outside_the_schema_is_caught(
    checked: RingCentralEmulator, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    render = checked._render

    def off_schema(message: Any, *, created: bool) -> dict[str, Any]:
        record = render(message, created=created)
        record["messageStatus"] = "Done"  # not a MessageStatusEnum value
        return record

    monkeypatch.setattr(checked, "_render", off_schema)
    token = (await login(client))["access_token"]
    await send_fax(client, token)
    await client.get(STORE, headers=bearer(token))
    violations = checked.check_contract()
    assert any(v.startswith("response 200 to POST") and "Done" in v for v in violations), violations
    assert any(v.startswith("response 200 to GET") and "Done" in v for v in violations), violations


async def test_an_error_answer_outside_the_error_model_is_caught(
    checked: RingCentralEmulator, client: httpx.AsyncClient
) -> None:
    checked.inject(group="Heavy", status=503, body={"errors": []})  # minItems 1
    token = (await login(client))["access_token"]
    await send_fax(client, token)
    assert any("response 503" in v for v in checked.check_contract())


@pytest.mark.parametrize(
    ("params", "envelope", "expected"),
    [
        ({"direction": "Sideways"}, None, "direction"),
        ({"perPage": "many"}, None, "perPage"),
        ({"dateFrom": "yesterday"}, None, "dateFrom"),
        (None, {"to": ["+14155551212"], "faxResolution": "High"}, "to/0"),
        (None, {"to": [{"phoneNumber": "+14155551212"}], "faxResolution": "Medium"}, "faxResolution"),
        (None, {"to": [{"phoneNumber": "+1415"}], "coverPageText": "x" * 1025}, "coverPageText"),
    ],
)
async def test_a_request_outside_the_schema_is_caught(
    checked: RingCentralEmulator,
    client: httpx.AsyncClient,
    params: dict[str, str] | None,
    envelope: dict[str, Any] | None,
    expected: str,
) -> None:
    token = (await login(client))["access_token"]
    if params is not None:
        await client.get(STORE, params=params, headers=bearer(token))
    else:
        await send_fax(client, token, body(json_part(envelope), doc()))
    violations = [v for v in checked.check_contract() if v.startswith("request")]
    assert any(expected in v for v in violations), violations


@pytest.mark.parametrize("seed", range(4))
async def test_the_backend_traffic_in_every_variant_follows_the_schema(
    checked: RingCentralEmulator, tmp_path: Path, seed: int
) -> None:
    checked.use(Variants.random(random.Random(seed), max_listing_delay=0.0), seed=seed)
    documents = spool(tmp_path, ("a.pdf", "application/pdf", pdf_bytes()))
    async with httpx.AsyncClient(timeout=5) as http:
        backend = RingCentralBackend(rc_settings(checked), http, page_size=2)
        started = datetime.now(UTC) - timedelta(seconds=1)
        faxes = []
        for index in range(3):
            submitted = await backend.submit(make_job(job_id=f"job-{index}"), documents)
            faxes.append(TrackedFax(f"job-{index}", submitted.backend_id or "", started, ("+14155551212",)))
        checked.complete(faxes[0].backend_id)
        checked.listing_delay = 600.0
        await backend.statuses(faxes)
        checked.listing_delay = 0.0
        result = await backend.recover(make_job(cover_text="other", started=started), known_ids=set())
        assert result.settlement in (Settlement.TOO_EARLY, Settlement.AMBIGUOUS)
        await backend.cancel(faxes[2].backend_id)
        await backend.aclose()
    assert checked.contract is not None
    assert checked.check_contract() == []
    assert checked.contract.checked >= 9


def test_every_relaxation_is_written_down_with_its_reason() -> None:
    assert set(ERRATA) == {
        "multipart/mixed",
        "vmSideRecipients",
        "form bodies",
        "password grant",
        "error answers",
        "readExtension",
    }
    assert all(len(reason) > 80 for reason in ERRATA.values())
