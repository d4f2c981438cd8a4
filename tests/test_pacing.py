"""The pacer's arithmetic, on a fake clock whose sleep moves time forward instead of waiting."""

from __future__ import annotations

import asyncio

import pytest

from mail2fax.backends.pacing import AUTH, HEAVY, LIGHT, MEDIUM, RatePacer
from mail2fax.settings import RingCentralSettings


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


def make(fake: FakeTime, limit: int = 3, window: float = 60.0) -> RatePacer:
    return RatePacer({HEAVY: (limit, window), LIGHT: (50, 60.0)}, clock=fake.clock, sleep=fake.sleep)


async def test_requests_within_the_limit_do_not_wait(fake: FakeTime) -> None:
    pacer = make(fake)
    for _ in range(3):
        await pacer.acquire(HEAVY)
    assert fake.sleeps == []
    assert fake.now == 1000.0


async def test_the_request_over_the_limit_waits_for_the_oldest_to_leave_the_window(
    fake: FakeTime,
) -> None:
    pacer = make(fake)
    await pacer.acquire(HEAVY)
    fake.now += 10
    await pacer.acquire(HEAVY)
    await pacer.acquire(HEAVY)
    assert pacer.wait_time(HEAVY) == pytest.approx(50.0)
    await pacer.acquire(HEAVY)
    assert fake.now == pytest.approx(1060.0)
    # The next one waits for the second request (stamped at 1010) to expire.
    assert pacer.wait_time(HEAVY) == pytest.approx(10.0)


async def test_the_window_slides_rather_than_resetting(fake: FakeTime) -> None:
    pacer = make(fake, limit=2, window=10.0)
    for _ in range(6):
        await pacer.acquire(HEAVY)
    # Two every ten seconds: starts at 1000, 1000, 1010, 1010, 1020, 1020.
    assert fake.now == pytest.approx(1020.0)
    assert sum(fake.sleeps) == pytest.approx(20.0)


async def test_finish_restamps_a_slot_at_the_time_its_answer_arrived(fake: FakeTime) -> None:
    pacer = make(fake, limit=1, window=60.0)
    permit = await pacer.acquire(HEAVY)
    fake.now += 30  # a slow upload
    permit.finish()
    assert pacer.wait_time(HEAVY) == pytest.approx(60.0)


async def test_groups_are_independent(fake: FakeTime) -> None:
    pacer = make(fake, limit=1)
    await pacer.acquire(HEAVY)
    assert pacer.wait_time(HEAVY) > 0
    assert pacer.wait_time(LIGHT) == 0
    await pacer.acquire(LIGHT)
    assert fake.sleeps == []


async def test_a_429_closes_the_group_for_retry_after(fake: FakeTime) -> None:
    pacer = make(fake, limit=10)
    await pacer.acquire(HEAVY)
    assert pacer.penalize(HEAVY, 42.0) == 42.0
    assert pacer.wait_time(HEAVY) == pytest.approx(42.0)
    await pacer.acquire(HEAVY)
    assert fake.now == pytest.approx(1042.0)
    assert pacer.snapshot()[HEAVY]["penalties"] == 1


async def test_a_429_without_retry_after_closes_the_group_for_one_window(fake: FakeTime) -> None:
    pacer = make(fake, limit=10, window=30.0)
    assert pacer.penalize(HEAVY, None) == 30.0
    assert pacer.wait_time(HEAVY) == pytest.approx(30.0)


async def test_a_later_penalty_extends_but_a_shorter_one_does_not_shorten(fake: FakeTime) -> None:
    pacer = make(fake)
    pacer.penalize(HEAVY, 60.0)
    pacer.penalize(HEAVY, 5.0)
    assert pacer.wait_time(HEAVY) == pytest.approx(60.0)
    fake.now += 30
    pacer.penalize(HEAVY, 60.0)
    assert pacer.wait_time(HEAVY) == pytest.approx(60.0)


async def test_waiters_sleeping_through_a_penalty_do_not_slip_in_early(fake: FakeTime) -> None:
    pacer = make(fake, limit=1, window=10.0)
    await pacer.acquire(HEAVY)
    # The second caller computes a 10 s wait; a 429 arrives meanwhile and closes the group for 60 s.
    waiter = asyncio.create_task(pacer.acquire(HEAVY))
    await asyncio.sleep(0)
    pacer.penalize(HEAVY, 60.0)
    await waiter
    assert fake.now >= 1060.0


async def test_remaining_zero_closes_the_group_for_the_server_window(fake: FakeTime) -> None:
    pacer = make(fake, limit=10)
    await pacer.acquire(HEAVY)
    pacer.observe(
        HEAVY,
        {"x-rate-limit-limit": "10", "x-rate-limit-remaining": "0", "x-rate-limit-window": "60"},
    )
    assert pacer.wait_time(HEAVY) == pytest.approx(60.0)


async def test_remaining_above_zero_does_not_close_the_group(fake: FakeTime) -> None:
    pacer = make(fake, limit=10)
    pacer.observe(HEAVY, {"x-rate-limit-remaining": "3", "x-rate-limit-window": "60"})
    assert pacer.wait_time(HEAVY) == 0


async def test_server_limits_tighten_but_never_loosen_the_configuration(fake: FakeTime) -> None:
    pacer = make(fake, limit=3, window=60.0)
    pacer.observe(HEAVY, {"x-rate-limit-limit": "1000", "x-rate-limit-window": "30"})
    assert pacer.snapshot()[HEAVY]["limit"] == 3
    assert pacer.window(HEAVY) == 60.0
    pacer.observe(HEAVY, {"x-rate-limit-limit": "2", "x-rate-limit-window": "120"})
    assert pacer.snapshot()[HEAVY]["limit"] == 2
    assert pacer.window(HEAVY) == 120.0
    assert pacer.snapshot()[HEAVY]["server"] == {"limit": "2", "window": "120"}


async def test_malformed_headers_are_ignored(fake: FakeTime) -> None:
    pacer = make(fake)
    pacer.observe(
        HEAVY,
        {"x-rate-limit-limit": "lots", "x-rate-limit-remaining": "-1", "x-rate-limit-window": "inf"},
    )
    assert pacer.wait_time(HEAVY) == 0
    assert pacer.snapshot()[HEAVY]["limit"] == 3


async def test_concurrent_callers_share_one_budget(fake: FakeTime) -> None:
    pacer = make(fake, limit=2, window=10.0)
    starts: list[float] = []

    async def worker() -> None:
        await pacer.acquire(HEAVY)
        starts.append(fake.now)

    await asyncio.gather(*(worker() for _ in range(5)))
    assert sorted(starts) == pytest.approx([1000.0, 1000.0, 1010.0, 1010.0, 1020.0])


def test_from_settings_uses_each_group_limit() -> None:
    settings = RingCentralSettings(
        heavy_limit=7, medium_limit=8, light_limit=9, auth_limit=4, limit_window=30.0
    )
    snapshot = RatePacer.from_settings(settings).snapshot()
    assert {group: snapshot[group]["limit"] for group in (HEAVY, MEDIUM, LIGHT, AUTH)} == {
        HEAVY: 7,
        MEDIUM: 8,
        LIGHT: 9,
        AUTH: 4,
    }
    assert all(snapshot[group]["window"] == 30.0 for group in snapshot)


def test_unknown_groups_are_a_programming_error(fake: FakeTime) -> None:
    with pytest.raises(KeyError, match="nope"):
        make(fake).wait_time("nope")
