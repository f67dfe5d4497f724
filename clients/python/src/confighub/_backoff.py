"""Retry delays: exponential backoff with full jitter, capped. A fleet that restarts together spreads
its retries over the whole window instead of hitting the hub in waves."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """How retries (fetches and reconnects) are spaced, in seconds."""

    initial: float = 0.25
    """The ceiling of the first delay."""
    maximum: float = 30.0
    """No delay exceeds this."""
    factor: float = 2.0
    """How much the ceiling grows per attempt."""

    def ceiling(self, attempt: int) -> float:
        """The ceiling of the delay before retry number `attempt` (0 for the first retry)."""
        try:
            grown = self.initial * math.pow(self.factor, max(0, attempt))
        except OverflowError:
            return self.maximum
        return min(self.maximum, grown)

    def delay(self, attempt: int, uniform: Callable[[], float] = random.random) -> float:
        """The delay before retry number `attempt`: uniform in [0, ceiling) ("full jitter")."""
        return uniform() * self.ceiling(attempt)
