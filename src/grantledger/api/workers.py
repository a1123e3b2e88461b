"""`serve --workers N`: N processes, each accepting connections on a listening socket of its own.

uvicorn's supervisor hands all its workers one shared socket, and whichever worker wakes first
accepts a whole burst of new connections: in `bench/entitled.py` one of two workers took most of
16 keep-alive clients and the service ran on one CPU of two (docs/benchmarks.md). Here each
worker gets its own socket bound with SO_REUSEPORT, and the kernel spreads new connections over
the sockets by a hash of their addresses. The supervisor creates every socket before the first
worker starts and keeps them open: a worker that dies is replaced on its own socket, and the
connections queued there meanwhile wait for the replacement instead of being refused.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import threading
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

log = logging.getLogger("uvicorn.error")

# How often the supervisor looks for dead workers, and how long a stopping worker may take to
# finish its requests before it is killed.
_CHECK_SECONDS = 0.5  # float-ok: seconds
_STOP_SECONDS = 30.0  # float-ok: seconds


def serve(workers: int, **options: Any) -> None:
    """`uvicorn.run(**options)` from `workers` processes, each on its own socket."""
    if workers <= 1 or not hasattr(socket, "SO_REUSEPORT"):
        # One process needs no balancing; without SO_REUSEPORT, uvicorn's shared socket.
        uvicorn.run(workers=workers, **options)
        return
    config = uvicorn.Config(**options)
    sockets = [_listener(config.host, config.port, config.backlog) for _ in range(workers)]
    try:
        _Supervisor(config, sockets).run()
    finally:
        for sock in sockets:
            sock.close()


def _listener(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def _work(config: uvicorn.Config, sock: socket.socket) -> None:
    # The body of a worker process (spawned: nothing of the supervisor's state is shared).
    config.configure_logging()
    uvicorn.Server(config).run(sockets=[sock])


class _Supervisor:
    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        self.config = config
        self.sockets = sockets
        self.stopping = threading.Event()
        self.processes: list[BaseProcess] = []

    def _start(self, slot: int) -> BaseProcess:
        process = multiprocessing.get_context("spawn").Process(
            target=_work, args=(self.config, self.sockets[slot]), daemon=False
        )
        process.start()
        log.info("Started worker process [%s]", process.pid)
        return process

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping.set()

    def run(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._stop)
        self.processes = [self._start(slot) for slot in range(len(self.sockets))]
        while not self.stopping.wait(_CHECK_SECONDS):
            self._replace_dead()
        for process in self.processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        for process in self.processes:
            process.join(_STOP_SECONDS)
            if process.is_alive():
                log.warning("Worker process [%s] did not stop in time; killing it", process.pid)
                process.kill()
                process.join()

    def _replace_dead(self) -> None:
        for slot, process in enumerate(self.processes):
            if process.is_alive():
                continue
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                # It failed before serving (the app, a setting or the socket is broken): every
                # replacement would fail the same way.
                log.error("Worker process [%s] failed to start; stopping", process.pid)
                self.stopping.set()
                return
            log.warning(
                "Worker process [%s] died (exit code %s); starting another",
                process.pid,
                process.exitcode,
            )
            self.processes[slot] = self._start(slot)
