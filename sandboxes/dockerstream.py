"""Docker's multiplexed stream: how an engine sends the stdout and stderr of a
program without a TTY (exec output, container logs). Each frame is an 8-byte
header (stream: 1 stdout, 2 stderr; three zero bytes; the size, big-endian)
and its payload. Parsed as bytes arrive, with no I/O of its own, so that
blocking and asyncio readers share it.
"""
from __future__ import annotations

import struct

STDOUT, STDERR = 1, 2


class Demux:
    def __init__(self):
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """The frames that data completes: (stream, payload) pairs."""
        self.buffer += data
        frames = []
        while len(self.buffer) >= 8:
            kind, size = struct.unpack(">BxxxL", self.buffer[:8])
            if len(self.buffer) < 8 + size:
                break
            frames.append((kind, bytes(self.buffer[8:8 + size])))
            del self.buffer[:8 + size]
        return frames


def join(data: bytes) -> bytes:
    """Every payload of a complete multiplexed body, stdout and stderr in order."""
    return b"".join(payload for _kind, payload in Demux().feed(data))
