"""`serve --workers N`: N processes, each accepting connections on a listening socket of its own.

uvicorn's supervisor hands all its workers one shared socket, and whichever worker wakes first
accepts a whole burst of new connections: in `bench/entitled.py` one of two workers took most of
16 keep-alive clients and the service ran on one CPU of two (docs/benchmarks.md). Here each
worker gets its own socket bound with SO_REUSEPORT, and the kernel spreads new connections over
the sockets by a hash of their addresses. The supervisor creates every socket before the first
worker starts and keeps them open: a worker that dies is replaced on its own socket, and the
connections queued there meanwhile wait for the replacement instead of being refused.

A worker whose event loop stops turning (a request stuck in a blocking call, the process
stopped) answers nobody and would keep its socket's share of new connections waiting forever:
each worker stamps a shared clock from its loop every second, and the supervisor kills one
whose stamp is older than `hang_seconds` (GRANTLEDGER_WORKER_TIMEOUT), then starts another.
The other way round, a worker whose supervisor is gone (killed with SIGKILL) stops by itself.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

log = logging.getLogger("uvicorn.error")

# How often the supervisor looks for dead and hung workers, how often a worker's loop stamps
# its clock, and how long a stopping worker may take to finish its requests before it is killed.
_CHECK_SECONDS = 0.5  # float-ok: seconds
_BEAT_SECONDS = 1.0  # float-ok: seconds
_STOP_SECONDS = 30.0  # float-ok: seconds


def serve(workers: int, hang_seconds: float, **options: Any) -> None:  # float-ok: seconds
    """`uvicorn.run(**options)` from `workers` processes, each on its own socket."""
    if workers <= 1 or not hasattr(socket, "SO_REUSEPORT"):
        # One process needs no balancing; without SO_REUSEPORT, uvicorn's shared socket.
        uvicorn.run(workers=workers, **options)
        return
    config = uvicorn.Config(**options)
    sockets = [_listener(config.host, config.port, config.backlog) for _ in range(workers)]
    try:
        _Supervisor(config, sockets, hang_seconds).run()
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


class _BeatingServer(uvicorn.Server):
    """uvicorn's server, stamping `beat` with the monotonic clock from its event loop, and
    stopping when its supervisor is gone.

    A supervisor killed with SIGKILL cannot stop its workers: they would go on serving
    unsupervised (none replaced when it dies) and hold the port, so the next `serve` fails with
    "Address already in use". Each beat, the worker checks that its parent is still the process
    that started it; once it is not (the worker was re-parented), it stops as on SIGTERM —
    finishing the requests in flight, for at most `_STOP_SECONDS` — and exits.
    """

    def __init__(self, config: uvicorn.Config, beat: Synchronized[float], parent: int) -> None:
        super().__init__(config)
        self.beat = beat
        self.parent = parent

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        stamping = asyncio.create_task(self._stamp())
        try:
            await super().serve(sockets)
        finally:
            stamping.cancel()

    async def _stamp(self) -> None:
        while True:
            self.beat.value = time.monotonic()
            if os.getppid() != self.parent and not self.should_exit:
                log.error(
                    "Supervisor process [%s] is gone; worker [%s] stops serving",
                    self.parent,
                    os.getpid(),
                )
                self.should_exit = True
                # Requests in flight get the time a stopping worker gets; then it just exits.
                asyncio.get_running_loop().call_later(_STOP_SECONDS, os._exit, 1)
            await asyncio.sleep(_BEAT_SECONDS)


def _work(
    config: uvicorn.Config, sock: socket.socket, beat: Synchronized[float], parent: int
) -> None:
    # The body of a worker process (spawned: only the socket and the stamp are shared).
    config.configure_logging()
    if os.getppid() != parent:
        return  # the supervisor died while this worker was starting
    _BeatingServer(config, beat, parent).run(sockets=[sock])


class _Supervisor:
    def __init__(
        self,
        config: uvicorn.Config,
        sockets: list[socket.socket],
        hang_seconds: float,  # float-ok: seconds
    ) -> None:
        self.config = config
        self.sockets = sockets
        self.hang_seconds = hang_seconds
        self.stopping = threading.Event()
        self.processes: list[BaseProcess] = []
        self.context = multiprocessing.get_context("spawn")
        # 0 until the worker's loop first runs: starting up is not hanging.
        self.beats: list[Synchronized[float]] = [self.context.Value("d", 0.0) for _ in sockets]

    def _start(self, slot: int) -> BaseProcess:
        self.beats[slot].value = 0.0
        process = self.context.Process(
            target=_work,
            args=(self.config, self.sockets[slot], self.beats[slot], os.getpid()),
            daemon=False,
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
            self._kill_hung()
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

    def _kill_hung(self) -> None:
        now = time.monotonic()
        for slot, process in enumerate(self.processes):
            beat = self.beats[slot].value
            if beat and now - beat > self.hang_seconds and process.is_alive():
                log.error(
                    "Worker process [%s] has not run its event loop for %.0f s; killing it",
                    process.pid,
                    now - beat,
                )
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
