from mail2fax.stages.backoff import retry_delay


def test_grows_between_bounds() -> None:
    delays = [retry_delay(n, minimum=10, maximum=300, random=lambda: 1.0) for n in range(1, 10)]
    assert delays[0] == 10
    assert delays == sorted(delays)
    assert max(delays) == 300


def test_jitter_stays_in_upper_half_and_above_minimum() -> None:
    assert retry_delay(4, minimum=10, maximum=300, random=lambda: 0.0) == 40
    assert retry_delay(1, minimum=10, maximum=300, random=lambda: 0.0) == 10


def test_retry_after_is_a_floor() -> None:
    assert retry_delay(1, minimum=10, maximum=300, retry_after=120, random=lambda: 0.5) == 120
    assert retry_delay(6, minimum=10, maximum=300, retry_after=5, random=lambda: 1.0) == 300
    assert retry_delay(1, minimum=10, maximum=300, retry_after=900, random=lambda: 1.0) == 900
