"""The emulator's test hooks (patches/hooks.py), for tests that move time or publish EKS releases.

A test module takes the `clock` fixture with `from hooks import clock  # noqa: F401`.
"""

from __future__ import annotations

import json
import urllib.request
from datetime import timedelta
from typing import Any, Callable, Iterator

import pytest


def hook(endpoint: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """GET (no body) or POST a JSON body to /moto-api/gio/PATH; the answer's JSON."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{endpoint}/moto-api/gio/{path}", data=data,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as answer:
        return json.loads(answer.read())


@pytest.fixture
def clock(endpoint: str) -> Iterator[Callable[[timedelta], dict[str, Any]]]:
    """clock(timedelta(hours=-48)) runs the emulator that far from the wall clock; reset after the test."""
    yield lambda offset: hook(endpoint, "clock", {"offset_seconds": offset.total_seconds()})
    hook(endpoint, "clock", {"offset_seconds": 0})
