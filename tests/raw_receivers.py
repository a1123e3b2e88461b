"""Webhook receivers that misbehave on purpose, on real local sockets: one answering a huge
body, one trickling its answer a byte at a time, one never answering. Each records what it
saw per connection (the webhook-id, when it began, when the sender hung up, bytes sent)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Visit:
    webhook_id: str
    began: float  # monotonic
    ended: float | None = None  # when the sender closed (or the receiver gave up)
    sent: int = 0  # bytes of answer the receiver got out


@dataclass
class RawReceiver:
    """Accepts on 127.0.0.1; reads each request; `answer(sock, visit)` then does the rest."""

    answer: Callable[[socket.socket, Visit], None]
    visits: list[Visit] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"

    def close(self) -> None:
        self.closed = True
        self.listener.close()

    def snapshot(self) -> list[Visit]:
        with self.lock:
            return list(self.visits)

    def _accept(self) -> None:
        while not self.closed:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        with sock:
            sock.settimeout(60)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                head += chunk
            top, _, body = head.partition(b"\r\n\r\n")
            headers = {}
            for line in top.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip().decode("latin-1")
            wanted = int(headers.get(b"content-length", "0"))
            while len(body) < wanted:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                body += chunk
            visit = Visit(headers.get(b"webhook-id", ""), time.monotonic())
            with self.lock:
                self.visits.append(visit)
            with contextlib.suppress(OSError):  # the sender hung up
                self.answer(sock, visit)
            visit.ended = time.monotonic()


def huge(total: int) -> Callable[[socket.socket, Visit], None]:
    """200 with a body of `total` bytes, sent as fast as the sender reads it."""

    def answer(sock: socket.socket, visit: Visit) -> None:
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % total)
        chunk = b"x" * (1 << 20)
        while visit.sent < total:
            sock.sendall(chunk)
            visit.sent += len(chunk)

    return answer


def trickling(every: float, lasting: float) -> Callable[[socket.socket, Visit], None]:  # float-ok
    """A status line, then one byte of a header every `every` s for `lasting` s."""

    def answer(sock: socket.socket, visit: Visit) -> None:
        sock.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        stop = time.monotonic() + lasting
        while time.monotonic() < stop:
            time.sleep(every)
            sock.sendall(b"x")
            visit.sent += 1
        # The sender's deadline should have hung up long before; wait for it to say so.

    return answer


def silent(lasting: float) -> Callable[[socket.socket, Visit], None]:  # float-ok: seconds
    """Never answers; holds the connection until the sender hangs up (or `lasting` passes)."""

    def answer(sock: socket.socket, visit: Visit) -> None:
        sock.settimeout(lasting)
        try:
            while sock.recv(65536):
                pass
        except TimeoutError:
            pass

    return answer
