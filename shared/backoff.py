"""Brute-force back-off: failed authentications of one identity from one address wait.

Used by the gateway (HTTP Basic auth of charge points, key (charge point id, remote IP)) and
the API (`/auth/token`, key (account, remote IP)). The first `free_failures` failures of a key
cost nothing; each further one makes the key wait before it may try again: 1 s, 2 s, 4 s, ...
up to `max_delay`. While it waits, attempts are answered at once (HTTP 429 + Retry-After)
without checking the password, so a flood of wrong passwords costs no argon2.

- Never locked out for good: the wait is capped at `max_delay`, a success forgets the key,
  and a key quiet for `forget_after` seconds starts afresh. Keyed by identity *and* address,
  a flood from elsewhere does not make the real station wait.
- Bounded memory: at most `max_entries` keys (least recently failed dropped first).
- Per process: each gateway / API process counts its own failures.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Final

DEFAULT_MAX_ENTRIES: Final = 100_000


@dataclass(slots=True)
class _Entry:
    failures: int
    blocked_until: float
    last_failure: float


class Backoff:
    """Failure counts and waits per key (see the module docstring)."""

    def __init__(
        self,
        *,
        free_failures: int = 5,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        forget_after: float | None = None,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if free_failures < 0 or base_delay <= 0 or max_delay < base_delay or max_entries < 1:
            raise ValueError("invalid back-off parameters")
        self.free_failures = free_failures
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.forget_after = max(max_delay * 10, 600.0) if forget_after is None else forget_after
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def _live(self, key: Hashable, now: float) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None and now - entry.last_failure > self.forget_after:
            del self._entries[key]
            return None
        return entry

    def retry_after(self, key: Hashable) -> int | None:
        """Whole seconds `key` must still wait (>= 1), or None when it may try now."""
        now = self._clock()
        entry = self._live(key, now)
        if entry is None or entry.blocked_until <= now:
            return None
        return max(1, math.ceil(entry.blocked_until - now))

    def failure(self, key: Hashable) -> float:
        """Record a failed attempt; the seconds the key must now wait (0: none yet)."""
        now = self._clock()
        entry = self._live(key, now)
        if entry is None:
            entry = _Entry(0, 0.0, now)
            while len(self._entries) >= self.max_entries:
                self._entries.popitem(last=False)
            self._entries[key] = entry
        else:
            self._entries.move_to_end(key)
        entry.failures += 1
        entry.last_failure = now
        beyond = entry.failures - self.free_failures
        if beyond <= 0:
            return 0.0
        delay: float = min(self.max_delay, self.base_delay * 2.0 ** min(beyond - 1, 32))
        entry.blocked_until = now + delay
        return delay

    def success(self, key: Hashable) -> None:
        """Forget the key's failures."""
        self._entries.pop(key, None)
