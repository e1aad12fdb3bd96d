"""A stand-in for BLISS's Beacon server: it only answers the Redis address query."""

from __future__ import annotations

import socket
import struct
import threading


class BeaconStub:
    """Answers REDIS_QUERY (type 30) with a REDIS_QUERY_ANSWER (type 31) frame."""

    def __init__(self, answer: str, port: int = 0) -> None:
        self.answer = answer.encode()
        self.requests: list[bytes] = []
        self.server = socket.create_server(("127.0.0.1", port))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                self.requests.append(conn.recv(8))
                conn.sendall(struct.pack("<ii", 31, len(self.answer)) + self.answer)

    def close(self) -> None:
        self.server.close()
