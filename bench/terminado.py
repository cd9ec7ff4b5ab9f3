"""terminado, Jupyter's terminal server, as the bench runs it:
`python -m bench.terminado FD COMMAND...` serves COMMAND (`docker exec -it
SANDBOX bash -l`) on the listening socket FD, one terminal per websocket
(UniqueTermManager), at /websocket. A process of its own, so that its event
loop is not the bench's; bench.streams.TerminadoTerm starts it and speaks
its JSON protocol. terminado is a bench dependency (requirements-bench.txt).
"""
from __future__ import annotations

import asyncio
import signal
import socket
import sys

import tornado.httpserver
import tornado.web
from terminado import TermSocket, UniqueTermManager


async def serve(fd: int, command: list[str]) -> None:
    manager = UniqueTermManager(shell_command=command)
    app = tornado.web.Application([(r"/websocket", TermSocket, {"term_manager": manager})])
    server = tornado.httpserver.HTTPServer(app)
    listener = socket.socket(fileno=fd)
    listener.setblocking(False)  # as tornado's own bind_sockets leaves it
    server.add_sockets([listener])
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    server.stop()
    await manager.shutdown()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2:]))
