"""The login throttle on the real `limits` library: per name and per address."""

from __future__ import annotations

from chat.login import LoginThrottle


async def test_failures_from_one_address_over_many_names_are_throttled():
    throttle = LoginThrottle(per_user="3/minute", per_address="5/minute")
    for i in range(5):
        assert await throttle.retry_after(f"name-{i}", "10.0.0.1") == 0
        await throttle.failed(f"name-{i}", "10.0.0.1")
    wait = await throttle.retry_after("someone-else", "10.0.0.1")
    assert 1 <= wait <= 60
    assert await throttle.retry_after("someone-else", "10.0.0.2") == 0


async def test_a_name_is_throttled_from_every_address_and_success_clears_it():
    throttle = LoginThrottle(per_user="3/minute", per_address="100/minute")
    for i in range(3):
        await throttle.failed("alice", f"10.0.0.{i}")
    assert await throttle.retry_after("alice", "10.0.0.9") >= 1
    await throttle.succeeded("alice")
    assert await throttle.retry_after("alice", "10.0.0.9") == 0
