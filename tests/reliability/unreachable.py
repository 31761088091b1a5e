"""A region's tables made unreachable for real (issue 15's faults): a TCP forwarder that can be cut.

``CuttableForwarder`` listens on 127.0.0.1 and relays every connection to a target (DynamoDB
Local). ``cut()`` closes the listening socket and every relayed connection: the clients then meet
what an unreachable region gives them, a refused connection (botocore's
``EndpointConnectionError`` after its retries), with no fake in their code path. ``restore()``
listens again on the same port. The relay threads stop by themselves when the forwarder closes.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

from local.processes import LOOPBACK

_CHUNK = 65536


class CuttableForwarder:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.port = 0
        self.cuts = 0

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> CuttableForwarder:
        self._listen()
        return self

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOOPBACK, self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut or closed
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._relay, args=(source, sink), daemon=True).start()

    def _relay(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(_CHUNK):
                sink.sendall(chunk)
        self._drop(source, sink)

    def _drop(self, *sockets: socket.socket) -> None:
        for sock in sockets:
            with self._lock:
                self._connections.discard(sock)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def cut(self) -> None:
        """Refuse new connections and break the live ones."""
        with self._lock:
            listener, self._listener = self._listener, None
            live = list(self._connections)
            self.cuts += 1
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            listener.close()
        self._drop(*live)

    def restore(self) -> None:
        with self._lock:
            listening = self._listener is not None
        if not listening:
            self._listen()

    def close(self) -> None:
        self.cut()

    def __enter__(self) -> CuttableForwarder:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
