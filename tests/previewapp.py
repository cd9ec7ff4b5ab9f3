"""A small web app for the preview tests, stdlib only, run in a container of
the course's `python` image inside a sandbox (`python3 -c SOURCE`). Port 8765.

  /           an HTML page: "Preview test app"
  /headers    the request's headers, as JSON
  /cookies    sets cookies: one of its own for a parent domain, one named like the preview's
  /stream     "first", then "second" two seconds later (chunked)
  /big?mb=N   N MiB of "x"
  /hold       answers a minute later
  /ws         a websocket: "echo: " + each text message, binary ones reversed
"""
import base64
import hashlib
import http.server
import json
import struct
import time
from urllib.parse import parse_qs, urlparse

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PAGE = b"<!doctype html><title>Preview test app</title><h1>Preview test app</h1>"


class App(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/ws":
            return self.echo()
        if url.path == "/headers":
            return self.reply(json.dumps(dict(self.headers.items())).encode(), "application/json")
        if url.path == "/cookies":
            return self.reply(b"cookies", "text/plain", [("Set-Cookie", "app=1; Domain=localhost; Path=/"),
                                                         ("Set-Cookie", "labdeck_preview=forged; Path=/")])
        if url.path == "/stream":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"first\n", b"second\n"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.flush()
                time.sleep(2)
            self.wfile.write(b"0\r\n\r\n")
            return
        if url.path == "/big":
            size = int(parse_qs(url.query).get("mb", ["1"])[0]) << 20
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            try:
                for _ in range(size >> 16):
                    self.wfile.write(b"x" * 65536)
            except OSError:
                pass
            return
        if url.path == "/hold":
            time.sleep(60)
        self.reply(PAGE, "text/html")

    def reply(self, body, kind, extra=()):
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for key, value in extra:
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def echo(self):
        key = self.headers["Sec-WebSocket-Key"] + GUID
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", base64.b64encode(hashlib.sha1(key.encode()).digest()).decode())
        self.end_headers()
        self.wfile.flush()
        while True:
            head = self.rfile.read(2)
            if len(head) < 2:
                return
            opcode, length = head[0] & 15, head[1] & 127
            if length == 126:
                length = struct.unpack(">H", self.rfile.read(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self.rfile.read(8))[0]
            mask = self.rfile.read(4) if head[1] & 128 else b"\0\0\0\0"
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(length)))
            if opcode == 8:
                return self.frame(8, data[:2])
            if opcode == 9:
                self.frame(10, data)
            elif opcode == 1:
                self.frame(1, b"echo: " + data)
            elif opcode == 2:
                self.frame(2, data[::-1])

    def frame(self, opcode, data):
        size = len(data)
        if size < 126:
            head = bytes([128 | opcode, size])
        elif size < 65536:
            head = bytes([128 | opcode, 126]) + struct.pack(">H", size)
        else:
            head = bytes([128 | opcode, 127]) + struct.pack(">Q", size)
        self.wfile.write(head + data)
        self.wfile.flush()


http.server.ThreadingHTTPServer(("", 8765), App).serve_forever()
