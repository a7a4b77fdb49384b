"""The emulator's clock, which every time-based AWS behaviour the patches model reads: Recycle Bin
retention and rule unlock delays, snapshot lock durations and cooling-off periods, archive and
restore durations, lastLaunchedTime's reporting delay. It starts at the real time and only a caller
moves it, forward, so a test can let days pass without sleeping:

    POST /gio-emulator/clock  {"advance_seconds": 86400}   -> {"now": "2030-01-02T03:04:05.678Z"}
    GET  /gio-emulator/clock                                -> {"now": ...}

on the emulator's own port (routes.py serves it). The clock is one for the whole process, as time
is one for every region of AWS: tests that move it must not rely on times taken before the move
from another test. Behaviours that read this clock are evaluated when asked (a lock that has run
out reads `expired`, a resource past its retention is gone), never by a background timer.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

_lock = threading.Lock()
_offset = timedelta(0)

PATH = "/gio-emulator/clock"


def now() -> datetime:
    """The emulator's current time, an aware UTC datetime."""
    with _lock:
        return datetime.now(timezone.utc) + _offset


def advance(seconds: float) -> datetime:
    """Moves the clock forward; time never runs backwards (a lock or a retention would un-expire)."""
    global _offset
    if seconds < 0:
        raise ValueError("the clock only moves forward")
    with _lock:
        _offset += timedelta(seconds=seconds)
    return now()


def iso(moment: datetime) -> str:
    """A timestamp as EC2 and the guides print it, UTC with milliseconds."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The clock endpoint, a bare WSGI app (it is no AWS service, so no moto machinery)."""
    status, body = "200 OK", {}
    if environ.get("REQUEST_METHOD") == "POST":
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            request = json.loads(environ["wsgi.input"].read(length) or b"{}")
            advance(float(request["advance_seconds"]))
        except (KeyError, TypeError, ValueError) as error:
            status, body = "400 Bad Request", {"error": f"expected {{\"advance_seconds\": N >= 0}}: {error}"}
    elif environ.get("REQUEST_METHOD") != "GET":
        status, body = "405 Method Not Allowed", {"error": "GET or POST"}
    if not body:
        body = {"now": iso(now())}
    payload = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]
