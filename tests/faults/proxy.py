"""A TCP proxy on 127.0.0.1 that a test can cut or black-hole, between a server and PostgreSQL.

- `restore()`: bytes flow both ways (the normal state).
- `cut()`: every open connection is reset (RST), and new ones are reset as soon as accepted: a
  database that crashed or a network that drops connections.
- `black_hole()`: connections stay open and new ones are accepted, but nothing is forwarded in
  either direction: a hung server or a silently dropping firewall, the case that needs timeouts.
- `mute()`: what the client sends still reaches the server, but no answer comes back: a COMMIT
  that the server carries out while its reply is lost.

It runs its own event loop in a thread so that synchronous tests can drive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from typing import Literal

Mode = Literal["pass", "cut", "black_hole", "mute"]


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            # Linger 0: close() sends RST instead of FIN, as a crashed peer would.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.mode: Mode = "pass"
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> FaultProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def stop(self) -> None:
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def cut(self) -> None:
        self._call(self._set("cut"))

    def black_hole(self) -> None:
        self._call(self._set("black_hole"))

    def mute(self) -> None:
        self._call(self._set("mute"))

    def restore(self) -> None:
        """Back to forwarding; connections opened during a black hole are reset, since they
        never reached the server and their peer is waiting for an answer that cannot come."""
        self._call(self._set("pass"))

    def _call(self, coroutine: object) -> None:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)  # type: ignore[arg-type]
        future.result(timeout=10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        self._drop_all()
        if self._server is not None:
            self._server.close()

    async def _set(self, mode: Mode) -> None:
        previous, self.mode = self.mode, mode
        if mode == "cut" or (mode == "pass" and previous in ("black_hole", "mute")):
            self._drop_all()

    def _drop_all(self) -> None:
        for writer in list(self._writers):
            _reset(writer)
        self._writers.clear()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self.mode == "cut":
            _reset(client_w)
            return
        self._writers.add(client_w)
        if self.mode in ("black_hole", "mute"):
            await self._swallow(client_r, client_w)
            return
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            self._writers.discard(client_w)
            _reset(client_w)
            return
        self._writers.add(server_w)
        await asyncio.gather(
            self._pump(client_r, server_w, client_w, upstream=True),
            self._pump(server_r, client_w, server_w, upstream=False),
        )

    async def _swallow(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while await reader.read(65536):
                pass
        self._writers.discard(writer)
        writer.transport.abort()

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        own: asyncio.StreamWriter,
        upstream: bool,
    ) -> None:
        """Copy reader → writer while passing; drop the bytes while black-holed (or muted,
        for answers)."""
        try:
            while data := await reader.read(65536):
                if self.mode == "pass" or (self.mode == "mute" and upstream):
                    writer.write(data)
                    await writer.drain()
        except OSError:
            pass
        finally:
            # One side ended: end the other, as a real connection would.
            for end in (writer, own):
                self._writers.discard(end)
                end.transport.abort()
