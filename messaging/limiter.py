"""The gateway's throughput cap, shared by every dispatch worker.

Celery's `rate_limit` is per worker, so N workers would send N times the cap. This is
one GCRA (generic cell rate algorithm, a token bucket kept as a single timestamp) in
Redis, updated by a Lua script so that taking a token is atomic across processes and
hosts, with Redis's own clock so the workers' clocks do not matter. The burst allowed
is a tenth of a second's worth, so over a minute the rate holds within a fraction of
a percent of the cap.

Without Redis (the embedded demo: one process) the same algorithm runs in memory.
"""

from __future__ import annotations

import threading
import time
from functools import lru_cache

from django.conf import settings

# KEYS[1]: the bucket; ARGV: emission interval (µs), burst tolerance (µs), tokens.
# Returns 0 when the tokens were taken, otherwise the µs to wait before asking again.
GCRA_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local count = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval * count
local wait = new_tat - tolerance - now
if wait > 0 then
  return wait
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX',
           math.ceil((new_tat - now) / 1000) + 1000)
return 0
"""


class RateLimiter:
    """`acquire(n)` blocks until n messages may go out under the shared cap."""

    def __init__(self, *, rate: float, key: str, burst: float | None = None):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.key = key
        self.interval_us = int(1_000_000 / rate)
        burst = burst if burst is not None else max(1.0, rate / 10)
        self.tolerance_us = int(self.interval_us * burst)

    @property
    def most_at_once(self) -> int:
        """The most tokens one call can take: more than the burst would never come."""
        return max(1, self.tolerance_us // self.interval_us)

    def try_acquire(self, count: int = 1) -> float:
        """Take `count` tokens if possible: 0.0, else the seconds to wait first."""
        raise NotImplementedError

    def acquire(self, count: int = 1, *, should_stop=None) -> bool:
        """Wait for `count` tokens; False if `should_stop()` turned true meanwhile."""
        while True:
            wait = self.try_acquire(count)
            if wait <= 0:
                return True
            if should_stop and should_stop():
                return False
            time.sleep(min(wait, 1.0))


class RedisRateLimiter(RateLimiter):
    def __init__(self, *, client, **kwargs):
        super().__init__(**kwargs)
        self.client = client
        self.script = client.register_script(GCRA_SCRIPT)

    def try_acquire(self, count: int = 1) -> float:
        wait_us = int(
            self.script(
                keys=[self.key], args=[self.interval_us, self.tolerance_us, count]
            )
        )
        return wait_us / 1_000_000

    def reset(self) -> None:
        self.client.delete(self.key)


class LocalRateLimiter(RateLimiter):
    """The same algorithm for one process, when no Redis is configured."""

    _lock = threading.Lock()
    _buckets: dict[str, int] = {}

    def try_acquire(self, count: int = 1) -> float:
        with self._lock:
            now = time.monotonic_ns() // 1000
            tat = max(self._buckets.get(self.key, now), now)
            new_tat = tat + self.interval_us * count
            wait = new_tat - self.tolerance_us - now
            if wait > 0:
                return wait / 1_000_000
            self._buckets[self.key] = new_tat
            return 0.0

    def reset(self) -> None:
        with self._lock:
            self._buckets.pop(self.key, None)


@lru_cache(maxsize=8)
def _redis_client(url: str):
    import redis

    return redis.Redis.from_url(url)


def gateway_limiter(*, rate: float | None = None, key: str | None = None):
    """The limiter for the configured gateway, from settings."""
    rate = rate or settings.MESSAGING_RATE_PER_SECOND
    key = key or settings.MESSAGING_RATE_KEY
    url = settings.MESSAGING_REDIS_URL
    if url:
        return RedisRateLimiter(client=_redis_client(url), rate=rate, key=key)
    return LocalRateLimiter(rate=rate, key=key)
