"""How much of a web process one sandbox's previews may take.

A learner controls both ends of a preview: the app, and through a share link
a viewer, who may read slowly or not at all while the app floods, or hold
many connections open. So in each web process a sandbox gets a
number of proxied connections at once (LABDECK_PREVIEW_CONNECTIONS), a rate
that they share (LABDECK_PREVIEW_RATE bytes per second), and each connection
a budget (LABDECK_PREVIEW_BYTES both ways, LABDECK_PREVIEW_SECONDS); past a
budget the connection is cut. One learner's previews slow only themselves.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from django.conf import settings

# A request that finds every connection of its sandbox taken waits this long
# for one (a page loads its images a few at a time) before a 503.
WAIT_FOR_SLOT = 5.0


class Busy(Exception):
    """The sandbox's previews hold every connection they may."""


class OverBudget(Exception):
    """A proxied connection carried all the bytes it may."""


class Allowance:
    """One sandbox's connections and shared rate, in this process."""

    def __init__(self, connections: int, rate: int):
        self.slots = asyncio.Semaphore(connections)
        self.users = 0
        self.rate = max(1, rate)
        self.tokens, self.stamp = float(self.rate), time.monotonic()

    async def spend(self, count: int) -> None:
        """Take `count` bytes of the rate, waiting while the bucket is in debt
        (it refills at `rate` bytes a second, up to one second's worth)."""
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate) - count
        self.stamp = now
        if self.tokens < 0:
            await asyncio.sleep(-self.tokens / self.rate)


_allowances: dict[str, Allowance] = {}


@asynccontextmanager
async def connection(handle: str) -> AsyncIterator[Budget]:
    """Hold one of the sandbox's connections (Busy if none frees in time) and
    give it its budget."""
    allowance = _allowances.setdefault(
        handle, Allowance(settings.LABDECK_PREVIEW_CONNECTIONS, settings.LABDECK_PREVIEW_RATE))
    allowance.users += 1
    try:
        try:
            await asyncio.wait_for(allowance.slots.acquire(), WAIT_FOR_SLOT)
        except TimeoutError:
            raise Busy from None
        try:
            yield Budget(allowance, settings.LABDECK_PREVIEW_BYTES)
        finally:
            allowance.slots.release()
    finally:
        allowance.users -= 1
        if not allowance.users:
            _allowances.pop(handle, None)


class Budget:
    """The bytes one proxied connection has left."""

    def __init__(self, allowance: Allowance, limit: int):
        self.allowance, self.left = allowance, limit

    async def spend(self, count: int) -> None:
        self.left -= count
        if self.left < 0:
            raise OverBudget
        await self.allowance.spend(count)
