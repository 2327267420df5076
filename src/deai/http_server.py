"""Serve an ASGI app with uvicorn in a background thread: nodes, gateways, tests, benchmarks.

The socket is bound before the thread starts, so ``url`` is right (and a taken port is a
typed error) as soon as the constructor returns; ``start`` returns once the server answers.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

from deai.errors import DeaiError, PortInUse


class AppServer:
    """One uvicorn server on ``host:port`` (``port=0`` picks a free one) in a daemon thread."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, *, name: str = "http") -> None:
        import uvicorn

        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit TCP_NODELAY. asyncio sets it only on sockets made with
        # proto=IPPROTO_TCP, and without it a response's body waits behind its headers for the
        # client's delayed ACK: ~40 ms on every request.
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self._sock.bind((host, port))
        except OSError as exc:
            self._sock.close()
            raise PortInUse(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        # Listening now (not when uvicorn's thread gets there) queues early connections
        # instead of refusing them.
        self._sock.listen(128)
        self.host, self.port = self._sock.getsockname()[:2]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name=f"{name}-{self.port}",
            daemon=True,
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> AppServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise DeaiError(f"the server on {self.url} did not start", hint="see the log above")
            time.sleep(0.01)
        return self

    def wait(self) -> None:
        """Block until the server stops."""
        while self._thread.is_alive():
            self._thread.join(timeout=0.5)

    def request_stop(self) -> None:
        """Ask the server to finish (safe from a signal handler); ``wait`` then returns."""
        self._server.should_exit = True

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        with contextlib.suppress(OSError):
            self._sock.close()

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
