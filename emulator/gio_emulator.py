"""gio-emulator: moto's server, patched in-process so its EC2/SSM model behaves like AWS.

    .venv/bin/python emulator/gio_emulator.py --port 0 [--host 127.0.0.1] [--log-requests]
                                              [--consistency-lag SECONDS]
    .venv/bin/python emulator/gio_emulator.py --forks SOCKET [--host 127.0.0.1]

Serves every service moto serves on one port, exactly as `moto_server` does, and
prints `gio-emulator ready http://HOST:PORT` once it accepts connections. Port 0
binds a free port and the ready line names it: the only race-free way for a
caller to get a port, since one it picks itself can be taken before the bind. Exits 2
on any moto version but the pinned one, or if a patch is not the code in use.

`--forks SOCKET` starts emulators for a test harness at a fraction of the cost: it imports
and patches moto once, prints `gio-emulator ready unix:SOCKET`, and then, for each
connection to that Unix socket, forks a fresh emulator (port 0) from that pristine
process. The connection's first line names the file the emulator logs to; the emulator
answers its ready line on the connection and exits when the connection closes (the
test is over, or its process died). The forking process serves no request and starts
no thread, so every emulator begins exactly as a freshly started one; it exits when
its stdin closes.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
import json
import selectors
import signal
import socket
import sys
import threading
from importlib.metadata import version
from typing import Callable

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
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", type=int, help="0 picks a free port (see the ready line)")
    where.add_argument("--forks", metavar="SOCKET", help="fork an emulator (port 0) per connection to this Unix socket")
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

    def serve(port: int, ready: Callable[[str], None]) -> None:
        # What moto.server.main() does, minus run_simple(), so the ready line can be
        # printed once the socket listens and before the first request is served.
        app = DomainDispatcherApplication(create_backend_app)
        server = make_server(args.host, port, app, threaded=True, request_handler=MotoRequestHandler)
        port = server.server_port
        os.environ.setdefault("MOTO_PORT", str(port))  # moto builds some URLs (SQS, S3) from it, lazily
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, stop)
        ready(f"gio-emulator ready http://{args.host}:{port}")
        server.serve_forever()

    if args.forks:
        fork_per_connection(args.forks, serve)
    else:
        serve(args.port, lambda line: print(line, flush=True))


def fork_per_connection(path: str, serve: Callable[[int, Callable[[str], None]], None]) -> None:
    """`--forks`: an emulator forked per connection to the Unix socket at `path`, until stdin closes."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # One left by a fork server that was killed: its path names a process that no longer runs.
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    listener.bind(path)
    listener.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the emulators that end
    print(f"gio-emulator ready unix:{path}", flush=True)
    events = selectors.DefaultSelector()
    events.register(listener, selectors.EVENT_READ)
    events.register(sys.stdin, selectors.EVENT_READ)
    while True:
        for key, _ in events.select():
            if key.fileobj is sys.stdin:
                if not os.read(sys.stdin.fileno(), 4096):
                    os.unlink(path)
                    stop()
                continue
            connection, _ = listener.accept()
            if os.fork() == 0:
                events.close()
                listener.close()
                forked(connection, serve)
            connection.close()


def forked(connection: socket.socket, serve: Callable[[int, Callable[[str], None]], None]) -> None:
    """One emulator of `--forks`, owning its connection: its stdin and stdout, as it were."""
    from moto.moto_api._internal import mock_random

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    # Python reseeds `random` in a forked child, but not moto's own generator: without this,
    # every emulator would hand out the same ids in the same order.
    mock_random.seed()
    request = json.loads(connection.makefile("rb").readline())
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, sys.stderr.fileno())
    os.close(log)

    def until_closed() -> None:
        while connection.recv(4096):
            pass
        stop()

    threading.Thread(target=until_closed, daemon=True).start()
    serve(0, lambda line: connection.sendall(f"{line}\n".encode()))


if __name__ == "__main__":
    main()
