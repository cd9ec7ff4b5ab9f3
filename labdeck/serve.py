"""Serve Labdeck's ASGI app: `python -m labdeck.serve [-b HOST -p PORT | --fd N] [--proxy-headers]`.

uvicorn on uvloop, with httptools for HTTP and websockets' sans-I/O
protocol for websockets. It replaced daphne because a keystroke's echo is
mostly per-frame work in the web process, and on the same sandbox, shell and
client (README, Benchmarks) daphne's stack (Twisted's transport, autobahn's
framing) cost about 0.14 ms more per echo at p50 than this one, and more at
p99.
"""
from __future__ import annotations

import argparse
import os
import socket

import uvicorn

# The largest websocket message either way: a preview's (previews/websocket.py
# bounds the app's side to the same).
WS_MAX_SIZE = 4 << 20
# How long a stopping process gives its connections to end once they are
# told to (websockets get 1012, "service restart"; the page reconnects).
GRACE_SECONDS = 5
# nginx, in the production layout: the only peer whose X-Forwarded-For and
# X-Forwarded-Proto are believed, and only with --proxy-headers.
PROXY = "127.0.0.1"


def config(argv: list[str] | None = None) -> tuple[uvicorn.Config, list[socket.socket] | None]:
    """The server's configuration, and the inherited listening socket if any."""
    parser = argparse.ArgumentParser(prog="python -m labdeck.serve", description=__doc__.splitlines()[0])
    parser.add_argument("-b", "--bind", default="127.0.0.1", help="address to listen on")
    parser.add_argument("-p", "--port", type=int, default=8000, help="port to listen on")
    parser.add_argument("--fd", type=int, help="serve on this inherited listening socket instead")
    parser.add_argument("--proxy-headers", action="store_true",
                        help=f"believe X-Forwarded-For and -Proto from {PROXY} (nginx in front)")
    parser.add_argument("app", nargs="?", default="labdeck.asgi:application")
    args = parser.parse_args(argv)
    level = os.environ.get("LOG_LEVEL", "INFO").lower()
    cfg = uvicorn.Config(
        args.app, host=args.bind, port=args.port, loop="uvloop", http="httptools", ws="websockets-sansio",
        ws_max_size=WS_MAX_SIZE,
        # Compressing a keystroke's echo costs more than the bytes it saves.
        ws_per_message_deflate=False,
        proxy_headers=args.proxy_headers, forwarded_allow_ips=PROXY,
        # Channels' router speaks no lifespan protocol.
        lifespan="off", timeout_graceful_shutdown=GRACE_SECONDS,
        log_level=level, access_log=level in ("debug", "info"), server_header=False,
    )
    # socket(fileno=) finds the socket's own family (TCP or Unix).
    sockets = [socket.socket(fileno=args.fd)] if args.fd is not None else None
    return cfg, sockets


def main(argv: list[str] | None = None) -> None:
    cfg, sockets = config(argv)
    uvicorn.Server(cfg).run(sockets=sockets)


if __name__ == "__main__":
    main()
