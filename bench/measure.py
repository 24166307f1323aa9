"""Closed-loop load generation and the statistics every row reports."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Self

import numpy as np
import psutil


@dataclass
class Row:
    """One line of the results table."""

    name: str
    throughput: float  # images per second, median over repeats
    spread: tuple[float, float]  # (min, max) throughput over repeats
    p50_ms: float
    p95_ms: float
    p99_ms: float
    server_cpu: float  # cores busy in the serving processes
    client_cpu: float  # cores busy in the load generator (this process)
    extra: dict = field(default_factory=dict)
    ratio: float = 0.0
    model: str = ""  # throughput / in-process pipeline throughput

    def as_dict(self) -> dict:
        return asdict(self)


class CpuMeter:
    """Cores used by a set of processes (with their children) and by this process, between start and stop."""

    def __init__(self, pids: list[int]) -> None:
        self._procs = []
        for pid in pids:
            proc = psutil.Process(pid)
            self._procs += [proc, *proc.children(recursive=True)]
        self._self = psutil.Process()

    def _times(self) -> tuple[float, float]:
        served = 0.0
        for proc in self._procs:
            try:
                t = proc.cpu_times()
                served += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        mine = self._self.cpu_times()
        return served, mine.user + mine.system

    def __enter__(self) -> Self:
        self._start = (time.perf_counter(), *self._times())
        return self

    def __exit__(self, *exc) -> None:
        wall = time.perf_counter() - self._start[0]
        served, mine = self._times()
        self.server = (served - self._start[1]) / wall
        self.client = (mine - self._start[2]) / wall


async def closed_loop(call: Callable[[], Awaitable[object]], concurrency: int, seconds: float) -> tuple[int, list[float]]:
    """`concurrency` callers, each calling again as soon as its call returns, for `seconds`."""
    latencies: list[float] = []
    end = time.perf_counter() + seconds

    async def caller() -> None:
        while time.perf_counter() < end:
            start = time.perf_counter()
            await call()
            latencies.append((time.perf_counter() - start) * 1000)

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return len(latencies), latencies


def summarize(name: str, repeats: list[tuple[float, list[float]]], cpu: list[tuple[float, float]], **extra) -> Row:
    """repeats: (images per second, latencies ms) per repeat; cpu: (server cores, client cores) per repeat."""
    rates = [r for r, _ in repeats]
    latencies = np.array([x for _, lat in repeats for x in lat]) if any(lat for _, lat in repeats) else np.zeros(1)
    return Row(
        name=name, throughput=statistics.median(rates), spread=(min(rates), max(rates)),
        p50_ms=float(np.percentile(latencies, 50)), p95_ms=float(np.percentile(latencies, 95)),
        p99_ms=float(np.percentile(latencies, 99)),
        server_cpu=statistics.median(c for c, _ in cpu), client_cpu=statistics.median(c for _, c in cpu),
        extra=extra,
    )
