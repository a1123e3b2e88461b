"""A light HTTP/1.1 load: keep-alive connections each sending one request after another.

`python -m tests.flood PORT KEY PATH CONNECTIONS SECONDS [BODY]` (BODY: JSON to POST, `{n}`
replaced by a fresh number per request) runs in its own process (so its CPU
is not the measuring test's) and prints `requests statuses` as JSON when done. Raw sockets and
pre-built requests: a client library would spend more CPU per request than the server does.
`measure` is the same client, one request at a time, timing each answer.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable


def request(port: int, key: str, path: str, body: bytes | None = None) -> bytes:
    """A GET, or with `body` a POST of that JSON."""
    head = (
        f"{'POST' if body is not None else 'GET'} {path} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\n"
    )
    if body is None:
        return (head + "\r\n").encode()
    sized = f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return (head + sized).encode() + body


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sent: bytes) -> int:
    """Send one request, read its whole answer; the status code."""
    writer.write(sent)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


async def _connection(
    port: int,
    make: Callable[[], bytes],
    until: float,
    counts: Counter[int],  # float-ok
) -> None:
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            counts[0] += 1
            await asyncio.sleep(0.05)
            continue
        try:
            while time.monotonic() < until:
                counts[await exchange(reader, writer, make())] += 1
        except (OSError, asyncio.IncompleteReadError):
            counts[0] += 1  # the connection was closed; open another
        finally:
            writer.close()


async def flood(
    port: int,
    key: str,
    path: str,
    connections: int,
    seconds: float,  # float-ok: seconds
    body: str | None = None,
) -> Counter[int]:
    """`body`, if given, is POSTed with `{n}` replaced by a number new for each request."""
    counts: Counter[int] = Counter()
    until = time.monotonic() + seconds
    numbers = itertools.count()
    stop = asyncio.Event()
    # SIGINT ends the flood early (its counts are still printed).
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)

    def make() -> bytes:
        if body is None:
            return request(port, key, path)
        return request(port, key, path, body.replace("{n}", str(next(numbers))).encode())

    senders = [
        asyncio.create_task(_connection(port, make, until, counts)) for _ in range(connections)
    ]
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait([stopping, *senders], return_when=asyncio.FIRST_COMPLETED)
    if stop.is_set():
        for sender in senders:
            sender.cancel()
    await asyncio.gather(*senders, return_exceptions=True)
    stopping.cancel()
    return counts


async def measure(
    port: int,
    key: str,
    path: str,
    count: int,
    pause: float,  # float-ok: seconds
) -> list[float]:  # float-ok: seconds
    """Seconds each of `count` sequential requests took, `pause` s apart, on one connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = request(port, key, path)
    took: list[float] = []  # float-ok: seconds
    try:
        for _ in range(count):
            started = time.perf_counter()
            status = await exchange(reader, writer, sent)
            took.append(time.perf_counter() - started)
            assert status == 200, status
            await asyncio.sleep(pause)
    finally:
        writer.close()
    return took


if __name__ == "__main__":
    port, key, path, connections, seconds = sys.argv[1:6]
    body = sys.argv[6] if len(sys.argv) > 6 else None
    done = asyncio.run(flood(int(port), key, path, int(connections), float(seconds), body))
    print(json.dumps({"requests": sum(done.values()), "statuses": dict(done)}))
