"""gio-emulator: moto's server, patched in-process so its EC2/SSM model behaves like AWS.

    .venv/bin/python emulator/gio_emulator.py --port 0 [--host 127.0.0.1] [--log-requests]
                                              [--consistency-lag SECONDS]

Serves every service moto serves on one port, exactly as `moto_server` does, and
prints `gio-emulator ready http://HOST:PORT` once it accepts connections. Port 0
binds a free port and the ready line names it: the only race-free way for a
caller to get a port, since one it picks itself can be taken before the bind. Exits 2
on any moto version but the pinned one, or if a patch is not the code in use.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import signal
import sys
from importlib.metadata import version

PINNED_MOTO = "5.2.5"
# Read as --consistency-lag's default, so a whole test run can be made eventually consistent.
LAG_VARIABLE = "GIO_EMULATOR_LAG"


def check_moto_version(found: str) -> str | None:
    """Why the emulator must not start with this moto, or None.

    The patches replace moto internals line for line; another version may have moved
    or changed them, so any difference is refused rather than half-working.
    """
    if found != PINNED_MOTO:
        return f"moto {found} is installed, but the emulator's patches are written for moto {PINNED_MOTO}"
    return None


def fail(message: str) -> None:
    print(f"gio-emulator: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def share_one_boto3_session() -> None:
    """Speed up start-up by about 0.6 s.

    At import, moto builds three boto3 Sessions only to list regions, and each
    re-parses botocore's endpoint data and EC2 model. Sessions made without
    arguments are used read-only for such look-ups, so one can serve them all.
    """
    import boto3

    session_class = boto3.Session
    shared = functools.lru_cache(maxsize=1)(session_class)
    boto3.Session = lambda *args, **kwargs: session_class(*args, **kwargs) if args or kwargs else shared()


def stop(*_: object) -> None:
    """Exit at once: all state is in memory, and a normal interpreter shutdown spends
    about a second collecting moto's objects before the process ends."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True, help="0 picks a free port (see the ready line)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--log-requests", action="store_true", help="log every request to stderr")
    parser.add_argument("--consistency-lag", type=float, default=os.environ.get(LAG_VARIABLE) or "0",
                        metavar="SECONDS", help="EC2 shows each change this late, as AWS's eventual consistency "
                        f"does (patches/consistency.py; default ${LAG_VARIABLE}, else 0)")
    args = parser.parse_args(argv)

    if problem := check_moto_version(version("moto")):
        fail(problem)
    share_one_boto3_session()

    import patches
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    try:
        patches.apply()
    except RuntimeError as error:  # a patched method is gone from moto
        fail(str(error))
    if not_in_use := patches.verify():
        fail(f"patched code is not what moto runs: {', '.join(not_in_use)}")
    try:
        patches.consistency.set_lag(args.consistency_lag)
    except ValueError as error:
        fail(str(error))
    if not args.log_requests:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    # What moto.server.main() does, minus run_simple(), so the ready line can be
    # printed once the socket listens and before the first request is served.
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    port = server.server_port
    os.environ.setdefault("MOTO_PORT", str(port))  # moto builds some URLs (SQS, S3) from it, lazily
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    print(f"gio-emulator ready http://{args.host}:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
