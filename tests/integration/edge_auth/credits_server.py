"""A loopback HTTP server playing the credits API, well or badly, for the edge's transport.

Behaviours: ``serve`` (the contract-faithful fake), ``hang`` (read the request,
never answer until released), ``trickle`` (send a status line, then one byte at
a time until released), ``status`` (answer ``failure_status``) and
``close_after_reply`` (answer, then drop the kept-alive connection without
saying so, the way an idle-timeout on the server side does).

Binds 127.0.0.1 on a free port; ``stop()`` releases blocked handlers and shuts
the server down (the fixture always calls it).
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.unit.edge_auth.fake_credits import FakeCreditsApi

LOOPBACK = "127.0.0.1"
_TRICKLE_INTERVAL_SECONDS = 0.05


class CreditsServer:
    def __init__(self, api: FakeCreditsApi) -> None:
        self.api = api
        self.behaviour = "serve"
        self.failure_status = 503
        self.release = threading.Event()
        self.connections = 0
        self.requests = 0
        self._counter_lock = threading.Lock()
        self._server = ThreadingHTTPServer((LOOPBACK, 0), _handler_class(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="credits-server",
            daemon=True,
        )

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def start(self) -> CreditsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def count_connection(self) -> None:
        with self._counter_lock:
            self.connections += 1

    def count_request(self) -> None:
        with self._counter_lock:
            self.requests += 1


def _handler_class(server: CreditsServer) -> type[BaseHTTPRequestHandler]:
    class CreditsRequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            server.count_connection()

        def log_message(self, format: str, *args: object) -> None:
            """Silence the default stderr access log."""

        def do_POST(self) -> None:
            server.count_request()
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            behaviour = server.behaviour
            if behaviour == "hang":
                server.release.wait(timeout=30)
                self.close_connection = True
                return
            if behaviour == "trickle":
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                while not server.release.is_set():
                    try:
                        self.wfile.write(b"X")
                        self.wfile.flush()
                    except OSError:
                        break
                    time.sleep(_TRICKLE_INTERVAL_SECONDS)
                self.close_connection = True
                return
            if behaviour == "status":
                reply_body = b'{"error":{"code":"internal_error","message":"injected"}}'
                self._reply(server.failure_status, reply_body)
                return
            reply = server.api.handle("POST", self.path, dict(self.headers.items()), body)
            self._reply(reply.status, reply.body)
            if behaviour == "close_after_reply":
                self.close_connection = True

        def _reply(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()

    return CreditsRequestHandler
