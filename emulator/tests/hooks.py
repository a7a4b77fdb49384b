"""The emulator's test hooks (patches/hooks.py), for tests that move time or publish EKS releases.

Tests move the clock through the `clock` fixture (conftest.py), which puts it back as it found it.
"""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime, timedelta
from typing import Any


def hook(endpoint: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """GET (no body) or POST a JSON body to /moto-api/gio/PATH; the answer's JSON."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{endpoint}/moto-api/gio/{path}", data=data,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as answer:
        return json.loads(answer.read())


class Clock:
    """The emulator's clock (patches/clock.py): each call answers the emulator's time after it."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def set(self, offset: timedelta) -> datetime:
        """Runs the emulator this far from the wall clock (negative: what is written is dated then)."""
        return self._answer({"offset_seconds": offset.total_seconds()})

    def advance(self, by: timedelta) -> datetime:
        """Lets that much time pass."""
        return self._answer({"advance_seconds": by.total_seconds()})

    def now(self) -> datetime:
        return self._answer(None)

    def offset(self) -> timedelta:
        return timedelta(seconds=hook(self.endpoint, "clock")["offset_seconds"])

    def _answer(self, body: dict[str, float] | None) -> datetime:
        return datetime.fromisoformat(hook(self.endpoint, "clock", body)["now"].replace("Z", "+00:00"))
