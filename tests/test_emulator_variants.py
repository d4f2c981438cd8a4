"""The emulator answers in every shape RingCentral documents, one chosen per test."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.contract import Contract
from tests.emulator import RingCentralEmulator
from tests.emulator.variants import Variants, written
from tests.test_emulator import STORE, bearer, body, doc, json_part, login, send_fax

ENVELOPE = {"to": [{"phoneNumber": "+18661234567"}], "faxResolution": "High", "coverPageText": "Hi"}


@pytest.fixture
async def rc() -> AsyncIterator[RingCentralEmulator]:
    async with RingCentralEmulator() as emulator:
        emulator.contract = Contract()
        yield emulator
        assert emulator.server.errors == []
        # Whatever shape it chose, each answer stays within RingCentral's published schema.
        violations = [v for v in emulator.check_contract() if v.startswith("response")]
        assert violations == [], "\n".join(violations)


@pytest.fixture
async def client(rc: RingCentralEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=rc.base_url, timeout=5) as http_client:
        yield http_client


async def fax(client: httpx.AsyncClient, token: str) -> dict[str, object]:
    response = await send_fax(client, token, body(json_part(ENVELOPE), doc()))
    assert response.status_code == 200, response.text
    created: dict[str, object] = response.json()
    return created


@pytest.mark.parametrize(
    ("style", "shown"),
    [("e164", "+18661234567"), ("plain", "18661234567"), ("national", "(866)123-4567")],
)
async def test_records_write_numbers_in_the_chosen_style(
    rc: RingCentralEmulator, client: httpx.AsyncClient, style: str, shown: str
) -> None:
    rc.use(Variants(number_style=style))  # type: ignore[arg-type]
    token = (await login(client))["access_token"]
    created = await fax(client, token)
    assert created["to"] == [
        {"recipientId": "9000001", "phoneNumber": "+18661234567", "messageStatus": "Queued"}
    ]
    listed = (await client.get(STORE, headers=bearer(token))).json()["records"]
    assert [entry["phoneNumber"] for entry in listed[0]["to"]] == [shown]
    read = (await client.get(f"{STORE}/{created['id']}", headers=bearer(token))).json()
    assert [entry["phoneNumber"] for entry in read["to"]] == [shown]


def test_national_numbers_outside_north_america_use_their_own_format() -> None:
    assert written("+442071234567", "national") == "020 7123 4567"
    assert written("+442071234567", "plain") == "442071234567"


async def test_mixed_style_varies_per_record_and_replays_with_its_seed(
    rc: RingCentralEmulator, client: httpx.AsyncClient
) -> None:
    rc.set_limit("Heavy", 100, 60)

    async def shapes(seed: int) -> list[str]:
        rc.use(Variants(number_style="mixed"), seed=seed)
        token = (await login(client))["access_token"]
        ids = [(await fax(client, token))["id"] for _ in range(12)]
        return [rc.message(str(i))["to"][0]["phoneNumber"] for i in ids]

    first, again = await shapes(5), await shapes(5)
    assert first == again
    assert set(first) == {"+18661234567", "18661234567", "(866)123-4567"}


async def test_records_and_create_answers_may_lack_the_cover_text(
    rc: RingCentralEmulator, client: httpx.AsyncClient
) -> None:
    rc.use(Variants(cover_text=False))
    token = (await login(client))["access_token"]
    created = await fax(client, token)
    assert "coverPageText" not in created
    assert "coverPageText" not in rc.message(str(created["id"]))
    assert rc.faxes[0].json["coverPageText"] == "Hi"


async def test_without_refresh_tokens_a_login_has_none_and_refreshing_is_refused(
    rc: RingCentralEmulator, client: httpx.AsyncClient
) -> None:
    rc.use(Variants(refresh_tokens=False, access_ttl=7199))
    info = await login(client)
    assert info["expires_in"] == 7199
    assert "refresh_token" not in info
    refused = await client.post(
        "/restapi/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": "anything"},
        auth=("test-client", "test-secret"),
    )
    assert refused.status_code == 400


@pytest.mark.parametrize("status", [400, 401])
async def test_invalid_credentials_are_answered_with_the_chosen_status(
    rc: RingCentralEmulator, client: httpx.AsyncClient, status: int
) -> None:
    rc.use(Variants(bad_credentials_status=status))
    response = await client.post(
        "/restapi/oauth/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": "wrong"},
        auth=("test-client", "test-secret"),
    )
    assert response.status_code == status
    assert response.json()["errorCode"] == "OAU-140"


async def test_per_page_above_1000_is_served_as_1000(client: httpx.AsyncClient) -> None:
    token = (await login(client))["access_token"]
    response = await client.get(STORE, params={"perPage": "5000"}, headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["paging"]["perPage"] == 1000


async def test_a_bulk_read_answers_207_with_a_part_per_id(client: httpx.AsyncClient) -> None:
    token = (await login(client))["access_token"]
    first, second = await fax(client, token), await fax(client, token)
    response = await client.get(f"{STORE}/{first['id']},999,{second['id']}", headers=bearer(token))
    assert response.status_code == 207
    assert response.headers["content-type"].startswith("application/vnd.ringcentral.multipart+json")
    parts = response.json()
    assert [(part["resourceId"], part["status"]) for part in parts] == [
        (str(first["id"]), 200),
        ("999", 404),
        (str(second["id"]), 200),
    ]
    assert parts[0]["body"]["id"] == first["id"]


async def test_a_delete_without_ids_deletes_every_message_as_documented(
    rc: RingCentralEmulator, client: httpx.AsyncClient
) -> None:
    token = (await login(client))["access_token"]
    created = await fax(client, token)
    assert (await client.delete(STORE, headers=bearer(token))).status_code == 204
    assert rc.message(str(created["id"]))["availability"] == "Deleted"


def test_random_variants_come_from_the_seed() -> None:
    one = Variants.random(random.Random(3), max_listing_delay=2.0)
    assert one == Variants.random(random.Random(3), max_listing_delay=2.0)
    assert 0.0 <= one.listing_delay <= 2.0
    seen = {Variants.random(random.Random(seed)).number_style for seed in range(40)}
    assert seen == {"e164", "plain", "national", "mixed"}
