"""The rate limit's token bucket, on a clock the test moves by hand."""

import pytest

from chat.protocol import TokenBucket
from tests.sockets import ManualClock


def allowed(bucket, frames):
    return [bucket.allow() for _ in range(frames)]


def test_a_full_bucket_allows_a_burst_of_twice_the_rate_then_refuses():
    clock = ManualClock()
    bucket = TokenBucket(5, clock=clock)
    assert allowed(bucket, 12) == [True] * 10 + [False] * 2


def test_tokens_come_back_at_the_rate_and_never_beyond_the_capacity():
    clock = ManualClock()
    bucket = TokenBucket(5, clock=clock)
    allowed(bucket, 10)
    clock.now += 0.2  # One token at 5 a second.
    assert allowed(bucket, 2) == [True, False]
    clock.now += 3600  # A long quiet time fills the bucket, to its capacity only.
    assert allowed(bucket, 11) == [True] * 10 + [False]


@pytest.mark.parametrize("rate", [0.1, 0.25, 0.49])
def test_a_rate_under_half_a_frame_a_second_still_lets_frames_through(rate):
    """2 × rate is under 1: the bucket holds one frame, and refills at the rate."""
    clock = ManualClock()
    bucket = TokenBucket(rate, clock=clock)
    assert allowed(bucket, 2) == [True, False]
    clock.now += 1.001 / rate  # One token, and a little more for rounding.
    assert allowed(bucket, 2) == [True, False]


def test_a_rate_of_0_allows_everything():
    assert allowed(TokenBucket(0, clock=ManualClock()), 1000) == [True] * 1000
