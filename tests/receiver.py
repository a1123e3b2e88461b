"""A real HTTP receiver of webhooks on a local port, recording every request it is sent."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from standardwebhooks.webhooks import Webhook


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = orjson.loads(self.body)
        return parsed

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]


class Receiver:
    """`answer(n)` decides the status of the n-th request (0-based); 200 by default."""

    def __init__(
        self,
        answer: Callable[[int], int] = lambda _n: 200,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.answer = answer
        self.received: list[Received] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with owner.lock:
                    status = owner.answer(len(owner.received))
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    owner.received.append(Received(headers, body, status))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the worker sends a batch at once

        self.http = Server((host, port), Handler)
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.http.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.http.server_address[0]}:{self.port}/hook"

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()

    def snapshot(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def wait_for(
        self,
        done: Callable[[list[Received]], bool],
        timeout: float = 30.0,  # float-ok: seconds
    ) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.snapshot()
            if done(got):
                return got
            time.sleep(0.1)
        got = self.snapshot()
        raise AssertionError(f"receiver timed out with {[r.json.get('type') for r in got]}")

    def delivered(self) -> list[Received]:
        return [r for r in self.snapshot() if 200 <= r.answered < 300]

    def of_type(self, event_type: str) -> list[Received]:
        return [r for r in self.delivered() if r.json["type"] == event_type]


def verified(secret: str, message: Received) -> dict[str, Any]:
    """The payload, after the `standardwebhooks` library checked its signature (raises if not)."""
    payload: dict[str, Any] = Webhook(secret).verify(message.body, message.headers)
    return payload


def receiving(answer: Callable[[int], int] = lambda _n: 200) -> Iterator[Receiver]:
    receiver = Receiver(answer)
    try:
        yield receiver
    finally:
        receiver.close()
