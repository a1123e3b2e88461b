"""A small TLS-terminating reverse proxy for the tests, like nginx's `proxy_pass` in front.

It listens with HTTPS on 127.0.0.1 (a self-signed certificate made with the `openssl` command),
forwards each request over plain HTTP to the upstream from a chosen source address, and sets
what such proxies set: `Host` to the upstream, `X-Forwarded-Host` to the host the client asked
for, `X-Forwarded-Proto: https`, and the client's address appended to `X-Forwarded-For`. One
request per connection (`Connection: close` both ways) keeps it small.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import threading
from pathlib import Path

_HEAD_LIMIT = 65536


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1, and its key, made by `openssl`."""
    if shutil.which("openssl") is None:
        raise RuntimeError("the openssl command is needed to make the proxy's certificate")
    cert, key = directory / "proxy.crt", directory / "proxy.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


class TlsProxy:
    def __init__(self, directory: Path, upstream_port: int, source: str) -> None:
        self.cert, key = self_signed(directory)
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(self.cert, key)
        self.upstream_port = upstream_port
        self.source = source
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self.ready.wait(10):
            raise RuntimeError("the proxy did not start")

    @property
    def base_url(self) -> str:
        return f"https://localhost:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.context)
        )
        self.port = server.sockets[0].getsockname()[1]
        self.server = server
        self.ready.set()
        self.loop.run_forever()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > _HEAD_LIMIT:
                return
            request_line, *lines = head.decode("latin-1").split("\r\n")[:-2]
            headers = [line.split(":", 1) for line in lines]
            kept: list[tuple[str, str]] = []
            host, forwarded, length = "", "", 0
            for name, value in headers:
                lowered, value = name.strip().lower(), value.strip()
                if lowered == "host":
                    host = value
                elif lowered == "x-forwarded-for":
                    forwarded = value
                elif lowered == "content-length":
                    length = int(value)
                elif lowered in ("connection", "keep-alive", "x-forwarded-proto"):
                    continue
                else:
                    kept.append((name.strip(), value))
                if lowered == "content-length":
                    kept.append((name.strip(), value))
            body = await reader.readexactly(length) if length else b""
            client = writer.get_extra_info("peername")[0]
            kept += [
                ("Host", f"127.0.0.1:{self.upstream_port}"),
                ("X-Forwarded-Host", host),
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-For", f"{forwarded}, {client}" if forwarded else client),
                ("Connection", "close"),
            ]
            up_reader, up_writer = await asyncio.open_connection(
                "127.0.0.1", self.upstream_port, local_addr=(self.source, 0)
            )
            up_writer.write(
                (request_line + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in kept) + "\r\n").encode(
                    "latin-1"
                )
                + body
            )
            await up_writer.drain()
            answer = await up_reader.read()  # until the upstream closes
            up_writer.close()
            writer.write(answer)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()
