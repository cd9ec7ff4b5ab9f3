"""Three terminals with one interface, for measuring the same thing each way:

- LabdeckTerm: Labdeck's websocket, as thin as an asyncio client can be
  (no compression, no per-frame work beyond the type byte; output is
  acknowledged in 16 KB steps like xterm.js's flow-control guide does).
- DirectTerm: the backend's own exec stream to the same sandbox, opened
  in-process with the server's settings: the baseline without Labdeck.
- HolderTerm: the backend's relay into a client of labdeck-term, the
  holder that keeps the learner's shell, on a holder and shell of its own
  beside the learner's: the direct stream plus what keeps the shell,
  without the web tier.
- TerminadoTerm: terminado, Jupyter's terminal server (bench/terminado.py,
  a process of its own), serving `docker exec -it` of the direct stream's
  shell into the same sandbox: the alternative, over its JSON protocol.

tests.support.TerminalClient is the sync client the tests use; its reads
cross a thread (websockets' sync reader) which would be counted as server
overhead in microsecond measurements, hence this asyncio twin.
"""
from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time

from websockets.asyncio.client import connect

from bench.common import PROMPT_DONE, PROMPT_END, backend
from sandboxes import protocol, terminal
from tests.support import ROOT

ACK_EVERY = 16 * 1024


def _in_order(buf: bytearray, needles: tuple[bytes, ...]) -> bool:
    at = 0
    for needle in needles:
        at = buf.find(needle, at)
        if at < 0:
            return False
        at += len(needle)
    return True


class Term:
    name = "?"

    async def write(self, data: bytes) -> None:
        raise NotImplementedError

    async def read(self) -> bytes:
        """Some output; b"" once the terminal is gone."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def why_closed(self) -> str:
        return ""

    async def read_until(self, *needles: bytes, timeout: float = 30, already: bytes = b"") -> bytes:
        """Everything read until the needles have been seen, in this order
        (in `already`, output read before, and what follows)."""
        buf = bytearray(already)
        deadline = time.monotonic() + timeout
        while not _in_order(buf, needles):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.name}: {needles!r} not seen; output ends {bytes(buf[-300:])!r}")
            data = await asyncio.wait_for(self.read(), left)
            if not data:
                raise EOFError(f"{self.name}: terminal closed{self.why_closed()}; output ends {bytes(buf[-300:])!r}")
            buf += data
        return bytes(buf)

    async def prompt(self, timeout: float = 30, already: bytes = b"") -> None:
        await self.read_until(PROMPT_DONE, PROMPT_END, timeout=timeout, already=already)

    async def drain(self, quiet: float = 0.3) -> None:
        """Read until nothing arrives for `quiet` seconds."""
        while True:
            try:
                if not await asyncio.wait_for(self.read(), quiet):
                    return
            except TimeoutError:
                return


class LabdeckTerm(Term):
    name = "labdeck"

    def __init__(self, ws):
        self.ws = ws
        self.unacked = 0

    @classmethod
    async def open(cls, server, learner, info: dict) -> LabdeckTerm:
        cookie = "; ".join(f"{k}={v}" for k, v in learner.http.cookies.get_dict().items())
        ws = await connect(
            server.url.replace("http", "ws") + info["terminal_url"],
            origin=server.url, additional_headers={"Cookie": cookie},
            compression=None, proxy=None, max_size=None, ping_interval=None,
        )
        return cls(ws)

    async def write(self, data: bytes) -> None:
        await self.ws.send(protocol.input_frame(data))

    async def read(self) -> bytes:
        if self.unacked >= ACK_EVERY:
            count, self.unacked = self.unacked, 0
            await self.ws.send(protocol.ack_frame(count))
        while True:
            try:
                frame = await self.ws.recv()
            except Exception:  # closed: ws.close_code and ws.close_reason say why
                return b""
            if frame[0] == protocol.OUTPUT:
                self.unacked += len(frame) - 1
                return frame[1:]
            if frame[0] == protocol.EXIT:
                return b""

    async def close(self) -> None:
        await self.ws.close()

    def why_closed(self) -> str:
        if self.ws.close_code is None:
            return ""
        return f" ({self.ws.close_code}: {self.ws.close_reason or 'no reason'})"


class DirectTerm(Term):
    name = "direct"

    def __init__(self, stream):
        self.stream = stream

    @classmethod
    async def open(cls, handle: str) -> DirectTerm:
        return cls(await backend().open_terminal(handle, 80, 24))

    async def write(self, data: bytes) -> None:
        await self.stream.write(data)

    async def read(self) -> bytes:
        return await self.stream.read(64 * 1024)

    async def close(self) -> None:
        await self.stream.close()


class HolderTerm(Term):
    name = "holder"

    def __init__(self, link):
        self.link, self.frames, self.pending = link, terminal.Frames(), []

    @classmethod
    async def open(cls, handle: str) -> HolderTerm:
        argv = [*terminal.LEARNER, "-s", "/run/labdeck/bench.sock"]
        return cls(await terminal.attach(handle, argv, 80, 24))

    async def write(self, data: bytes) -> None:
        await self.link.send(terminal.frame(terminal.INPUT, data))

    async def read(self) -> bytes:
        while not self.pending:
            data = await self.link.recv(64 * 1024)
            if not data:
                return b""
            self.pending = [p for kind, p in self.frames.feed(data) if kind == terminal.OUTPUT and p]
        return self.pending.pop(0)

    async def close(self) -> None:
        await self.link.close()


class TerminadoTerm(Term):
    name = "terminado"

    def __init__(self, ws, proc: subprocess.Popen):
        self.ws, self.proc = ws, proc

    @classmethod
    async def open(cls, handle: str, cols: int = 80, rows: int = 24) -> TerminadoTerm:
        # The shell DirectTerm gets (DockerBackend.open_terminal: `bash -l`,
        # TERM=xterm-256color), through the docker CLI on terminado's pty.
        if importlib.util.find_spec("terminado") is None:
            raise RuntimeError("terminado is not installed: .venv/bin/pip install -r requirements-bench.txt")
        command = ["docker", "exec", "-it", "-e", "TERM=xterm-256color", handle, "bash", "-l"]
        env = {**os.environ, "DOCKER_HOST": backend().base_url}
        # The listening socket is made here, so the port is known and taken before terminado starts.
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(16)
            port = listener.getsockname()[1]
            proc = subprocess.Popen([sys.executable, "-m", "bench.terminado", str(listener.fileno()), *command],
                                    cwd=ROOT, env=env, pass_fds=[listener.fileno()])
        try:
            ws = await connect(f"ws://127.0.0.1:{port}/websocket", compression=None, proxy=None,
                               max_size=None, ping_interval=None, open_timeout=30)
            await ws.send(json.dumps(["set_size", rows, cols]))
        except BaseException:
            proc.terminate()
            proc.wait(10)
            raise
        return cls(ws, proc)

    async def write(self, data: bytes) -> None:
        await self.ws.send(json.dumps(["stdin", data.decode()]))

    async def read(self) -> bytes:
        while True:
            try:
                message = json.loads(await self.ws.recv())
            except Exception:  # closed
                return b""
            if message[0] == "stdout":
                return message[1].encode()
            if message[0] == "disconnect":
                return b""

    async def close(self) -> None:
        try:
            await self.ws.close()
        finally:
            self.proc.terminate()
            try:
                await asyncio.to_thread(self.proc.wait, 10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
