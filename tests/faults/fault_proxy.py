"""A fault-injecting HTTP proxy on loopback, in front of a real registry.

A threaded `http.server` that forwards each request to the upstream registry with
`http.client`, streaming request and response bodies, with `Connection: close` on every
answer. The Host header is passed through unchanged, so the registry's Location headers point
back at the proxy. `decide(request)` is called for each request and may return a `Fault`:

    Fault(status=503)                          answer 503 without forwarding
    Fault(status=429, headers={"Retry-After": "1"})
    Fault(delay=1.5)                           wait, then forward (a slow registry)
    Fault(rewrite=lambda body: body[:-1])      forward, then send a rewritten response body
    Fault(truncate=100)                        forward, send the upstream headers but only
                                               100 body bytes, then hang up
    Fault(cut_request=100)                     forward the request's headers and its first 100
                                               body bytes, then hang up on both sides (a
                                               connection cut mid-upload)

Every request is recorded (`requests`): its number, method, path, time, the fault applied,
the status and headers of the answer.
TLS hellos (the client's https probe of a loopback registry) are hung up on, unrecorded.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, List, Optional

_CHUNK = 1 << 16
_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


@dataclass
class Fault:
    status: Optional[int] = None
    headers: Dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0
    rewrite: Optional[Callable[[bytes], bytes]] = None
    truncate: Optional[int] = None
    cut_request: Optional[int] = None


@dataclass
class SeenRequest:
    n: int  # 0-based order of arrival (pings included)
    method: str
    path: str  # with the query
    at: float  # time.monotonic() on arrival
    authorization: str
    fault: Optional[Fault] = None
    status: Optional[int] = None  # the status sent (or being sent) to the client
    response_headers: Dict[str, str] = field(default_factory=dict)  # as sent to the client

    @property
    def bare_path(self) -> str:
        return self.path.split("?", 1)[0]

    @property
    def is_ping(self) -> bool:
        return self.bare_path == "/v2/"

    @property
    def key(self) -> str:
        return f"{self.method} {self.bare_path}"


class FaultProxy:
    def __init__(self, upstream: str, decide: Optional[Callable[[SeenRequest], Optional[Fault]]] = None) -> None:
        self.upstream_host, port = upstream.rsplit(":", 1)
        self.upstream_port = int(port)
        self.decide = decide or (lambda request: None)
        self.requests: List[SeenRequest] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def handle_one_request(self):
                try:
                    first = self.rfile.peek(1)[:1]
                except (OSError, ValueError):
                    first = b""
                if not first.isalpha():  # not HTTP (a TLS hello): hang up, as HTTP servers do
                    self.close_connection = True
                    return
                super().handle_one_request()

            def _any(self):
                try:
                    proxy._serve(self)
                except (OSError, http.client.HTTPException):
                    pass  # the client gave up (a timeout) or the upstream hung up
                self.close_connection = True

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _any

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.host = f"127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def __enter__(self) -> "FaultProxy":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- views ----------------------------------------------------------------------------

    def seen(self) -> List[SeenRequest]:
        with self._lock:
            return list(self.requests)

    def api_requests(self) -> List[SeenRequest]:
        """Every request but the pings of `/v2/`."""
        return [r for r in self.seen() if not r.is_ping]

    def wait_for(self, condition: Callable[[List[SeenRequest]], bool], timeout: float) -> List[SeenRequest]:
        """The requests seen, once `condition(requests)` holds; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self.seen()
            if condition(seen):
                return seen
            if time.monotonic() > deadline:
                raise AssertionError(f"the proxy did not see the expected requests in {timeout} s: {seen}")
            time.sleep(0.01)

    def faulted(self) -> List[SeenRequest]:
        return [r for r in self.seen() if r.fault is not None]

    # -- serving --------------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        method, path = handler.command, handler.path
        with self._lock:
            request = SeenRequest(
                len(self.requests), method, path, time.monotonic(), handler.headers.get("Authorization", "")
            )
            self.requests.append(request)
        fault = self.decide(request)
        request.fault = fault
        if fault is not None and fault.status is not None:
            request.status = fault.status
            _drain(handler)
            handler.send_response(fault.status)
            headers = {"Content-Type": "application/json", **fault.headers}
            request.response_headers = dict(headers)
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(fault.body)))
            handler.send_header("Connection", "close")
            handler.end_headers()
            if method != "HEAD":
                handler.wfile.write(fault.body)
            return
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        upstream = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=30)
        try:
            upstream.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in handler.headers.items():
                if name.lower() not in _HOP:
                    upstream.putheader(name, value)
            chunked = "chunked" in handler.headers.get("Transfer-Encoding", "").lower()
            if chunked:
                upstream.putheader("Transfer-Encoding", "chunked")
            upstream.putheader("Connection", "close")
            upstream.endheaders()
            if chunked:
                for chunk in _read_chunked(handler.rfile):
                    upstream.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                upstream.send(b"0\r\n\r\n")
            else:
                left = int(handler.headers.get("Content-Length") or 0)
                cut = fault.cut_request if fault is not None else None
                while left > 0:
                    chunk = handler.rfile.read(min(left, _CHUNK))
                    if not chunk:
                        return
                    if cut is not None and len(chunk) >= cut:
                        upstream.send(chunk[:cut])
                        return  # both connections close: the registry got part of the body
                    upstream.send(chunk)
                    left -= len(chunk)
                    cut = cut - len(chunk) if cut is not None else None
            response = upstream.getresponse()
            request.response_headers = dict(response.getheaders())
            request.status = response.status  # set before the client can see the answer
            body_rewrite = fault.rewrite if fault is not None else None
            if body_rewrite is not None:
                body = body_rewrite(response.read())
                length: Optional[int] = len(body)
            else:
                body, length = b"", None
            handler.send_response_only(response.status, response.reason)
            for name, value in response.getheaders():
                lower = name.lower()
                if lower in _HOP or (lower == "content-length" and length is not None):
                    continue
                handler.send_header(name, value)
            if length is not None:
                handler.send_header("Content-Length", str(length))
            handler.send_header("Connection", "close")
            handler.end_headers()
            if method == "HEAD":
                return
            if body_rewrite is not None:
                handler.wfile.write(body)
                return
            limit = fault.truncate if fault is not None else None
            sent = 0
            while True:
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                if limit is not None and sent + len(chunk) >= limit:
                    handler.wfile.write(chunk[: limit - sent])
                    handler.wfile.flush()
                    return  # hang up mid-body
                handler.wfile.write(chunk)
                sent += len(chunk)
        finally:
            upstream.close()


def _drain(handler: BaseHTTPRequestHandler) -> None:
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        for _ in _read_chunked(handler.rfile):
            pass
        return
    left = int(handler.headers.get("Content-Length") or 0)
    while left > 0:
        chunk = handler.rfile.read(min(left, _CHUNK))
        if not chunk:
            return
        left -= len(chunk)


def _read_chunked(rfile):
    while True:
        line = rfile.readline()
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return
        data = rfile.read(size)
        rfile.readline()
        yield data
