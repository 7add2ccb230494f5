"""A loopback HTTP proxy in front of a registry that can drop a chosen request mid-body.

One request per connection (it answers `Connection: close`), the Host header passed through
unchanged so that the registry's Location headers point back at the proxy. Every request is
recorded: method, path, Content-Range, body bytes received and whether it was dropped.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from dataclasses import dataclass
from typing import Callable, List, Optional


@dataclass
class ProxiedRequest:
    method: str
    path: str
    content_range: Optional[str]
    content_length: int
    dropped: bool


class DroppingProxy:
    """`drop(method, path, n)` decides, for the n-th request (0-based) of that method, whether
    to read half of its body and then close the connection. With `forward_partial`, that half
    is first passed on to the registry (which then holds bytes the client never saw confirmed)."""

    def __init__(self, upstream: str, drop: Callable[[str, str, int], bool], *, forward_partial: bool = False):
        self.upstream_host, upstream_port = upstream.rsplit(":", 1)
        self.upstream_port = int(upstream_port)
        self.drop = drop
        self.forward_partial = forward_partial
        self.requests: List[ProxiedRequest] = []
        self._counts: dict = {}
        self._lock = threading.Lock()
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                proxy._serve(self.request)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.host = f"127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _serve(self, client: socket.socket) -> None:
        head, rest = _read_head(client)
        if head is None:
            return
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = [line for line in lines[1:] if line]
        values = {h.split(":", 1)[0].strip().lower(): h.split(":", 1)[1].strip() for h in headers}
        length = int(values.get("content-length") or 0)
        with self._lock:
            n = self._counts.get(method, 0)
            self._counts[method] = n + 1
        dropping = self.drop(method, path, n)
        record = ProxiedRequest(method, path, values.get("content-range"), length, dropping)
        with self._lock:
            self.requests.append(record)
        kept = [h for h in headers if h.split(":", 1)[0].strip().lower() not in ("connection", "keep-alive")]
        upstream_head = "\r\n".join([lines[0], *kept, "Connection: close", "", ""]).encode("latin-1")
        if dropping:
            body = rest + _read_exactly(client, max(0, length // 2 - len(rest)))
            if self.forward_partial:
                with socket.create_connection((self.upstream_host, self.upstream_port)) as upstream:
                    upstream.sendall(upstream_head + body)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            client.close()
            return
        with socket.create_connection((self.upstream_host, self.upstream_port)) as upstream:
            upstream.sendall(upstream_head + rest)
            left = length - len(rest)
            while left > 0:
                chunk = client.recv(min(left, 1 << 16))
                if not chunk:
                    return
                upstream.sendall(chunk)
                left -= len(chunk)
            while True:
                chunk = upstream.recv(1 << 16)
                if not chunk:
                    break
                client.sendall(chunk)


def _read_head(sock: socket.socket):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(1 << 16)
        if not chunk:
            return None, b""
        data += chunk
        if not data[:1].isalpha():  # not HTTP (e.g. a TLS hello): hang up, as HTTP servers do
            return None, b""
    head, rest = data.split(b"\r\n\r\n", 1)
    return head, rest


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = sock.recv(min(n - len(out), 1 << 16))
        if not chunk:
            break
        out += chunk
    return out
