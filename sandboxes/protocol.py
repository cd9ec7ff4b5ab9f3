"""The terminal's wire protocol: binary websocket frames, one type byte first.

Browser to server: INPUT (keystrokes, UTF-8), RESIZE (cols, rows as two
big-endian uint16), ACK (output bytes rendered, big-endian uint32).
Server to browser: OUTPUT (terminal bytes), STATUS (UTF-8 JSON with at
least "state" and "message"), EXIT (UTF-8 JSON {"code": n}).
"""
from __future__ import annotations

import json
import struct

INPUT, RESIZE, ACK = 0x00, 0x01, 0x02
OUTPUT, STATUS, EXIT = 0x10, 0x11, 0x12

MAX_INPUT = 64 * 1024


class ProtocolError(ValueError):
    """A frame that does not follow the protocol."""


def decode(frame: bytes) -> tuple[int, object]:
    """Return (type, value) of a browser frame: bytes, (cols, rows) or an int."""
    if not frame:
        raise ProtocolError("empty frame")
    kind, payload = frame[0], frame[1:]
    if kind == INPUT:
        if len(payload) > MAX_INPUT:
            raise ProtocolError("input frame too large")
        return kind, payload
    if kind == RESIZE:
        if len(payload) != 4:
            raise ProtocolError("resize needs 4 bytes")
        cols, rows = struct.unpack(">HH", payload)
        if not (1 <= cols <= 1000 and 1 <= rows <= 1000):
            raise ProtocolError("resize out of range")
        return kind, (cols, rows)
    if kind == ACK:
        if len(payload) != 4:
            raise ProtocolError("ack needs 4 bytes")
        return kind, struct.unpack(">I", payload)[0]
    raise ProtocolError(f"unknown frame type {kind}")


def output(data: bytes) -> bytes:
    return bytes((OUTPUT,)) + data


def status(state: str, message: str = "", **extra) -> bytes:
    return bytes((STATUS,)) + json.dumps({"state": state, "message": message, **extra}).encode()


def exit_frame(code: int) -> bytes:
    return bytes((EXIT,)) + json.dumps({"code": code}).encode()


def input_frame(data: bytes) -> bytes:
    return bytes((INPUT,)) + data


def resize_frame(cols: int, rows: int) -> bytes:
    return bytes((RESIZE,)) + struct.pack(">HH", cols, rows)


def ack_frame(count: int) -> bytes:
    return bytes((ACK,)) + struct.pack(">I", count)
