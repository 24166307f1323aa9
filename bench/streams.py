"""Load generators for video: gRPC streams, the bridge's WebSocket stream, and live cameras at a frame rate.

Each returns a `once(seconds)` coroutine factory for `Bench.repeat`: (frames/s, latencies ms, extra).
"""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import websockets

from segmentation_client import AsyncSegmentationClient

LIVE_FPS = 30.0
LIVE_P95_MS = 2 * 1000 / LIVE_FPS  # two frame intervals
LIVE_MAX_DROP = 0.01


async def _camera(client: AsyncSegmentationClient, model: str, frame: bytes, policy: str, fps: float,
                  seconds: float, delay: float = 0.0, options: dict | None = None) -> tuple[list[float], int, int]:
    """One stream offering `frame` at `fps` (0: as fast as the server takes them) from `delay` seconds on:
    latencies, offered, dropped. `options`: the stream's mask options (alpha, refine_edges, smoothing)."""
    await asyncio.sleep(delay)
    sent: dict[int, float] = {}
    end = time.perf_counter() + seconds

    async def frames():
        frame_id = 0
        while time.perf_counter() < end:
            frame_id += 1
            sent[frame_id] = time.perf_counter()
            yield frame_id, frame
            if fps:
                await asyncio.sleep(max(0.0, sent[frame_id] + 1 / fps - time.perf_counter()))

    latencies, dropped = [], 0
    async for result in client.stream(frames(), model, drop_policy=policy, **(options or {})):
        latencies.append((time.perf_counter() - sent[result.frame_id]) * 1000)
        dropped = result.frames_dropped
    return latencies, len(sent), dropped


def grpc_stream(client: AsyncSegmentationClient, model: str, frame: bytes, policy: str, fps: float):
    async def once(seconds: float):
        start = time.perf_counter()
        latencies, offered, dropped = await _camera(client, model, frame, policy, fps, seconds)
        elapsed = time.perf_counter() - start
        return len(latencies) / elapsed, latencies, {"offered": offered, "dropped": dropped,
                                                     "drop_rate": dropped / max(1, offered)}
    return once


async def live(address: str, model: str, frame: bytes, streams: int,
               seconds: float, options: dict | None = None) -> tuple[float, list[float], dict]:
    """`streams` cameras at 30 fps at once (LATEST, as a live camera streams); passes when each keeps p95 <=
    two frame intervals with under 1 % of its frames dropped. Independent cameras do not shoot in step:
    their starts are spread over one frame interval; each opens its own connection, as cameras do.
    `options`: the streams' mask options (alpha, refine_edges, smoothing)."""
    clients = [AsyncSegmentationClient(address, timeout=60) for _ in range(streams)]
    try:
        for client in clients:  # connected before the clock starts, as cameras already running are
            await client.list_models()
        start = time.perf_counter()
        results = await asyncio.gather(*(_camera(client, model, frame, "latest", LIVE_FPS, seconds,
                                                 i / LIVE_FPS / streams, options)
                                         for i, client in enumerate(clients)))
        elapsed = time.perf_counter() - start
    finally:
        for client in clients:
            await client.close()
    worst_p95 = max(float(np.percentile(lat, 95)) if lat else float("inf") for lat, _, _ in results)
    worst_drop = max(dropped / max(1, offered) for _, offered, dropped in results)
    latencies = [x for lat, _, _ in results for x in lat]
    offered = sum(o for _, o, _ in results)
    return len(latencies) / elapsed, latencies, {
        "streams": streams, "offered": offered, "dropped": sum(d for _, _, d in results),
        "drop_rate": worst_drop, "worst_p95_ms": worst_p95,
        "passed": worst_p95 <= LIVE_P95_MS and worst_drop < LIVE_MAX_DROP,
    }


def websocket_stream(url: str, frame: bytes, window: int):
    """Frames over the bridge's WebSocket, `window` of them in flight (the sender waits for answers, as the
    gRPC stream's flow control makes it)."""
    async def once(seconds: float):
        latencies: list[float] = []
        sent: dict[int, float] = {}
        async with websockets.connect(url, max_size=None) as ws:
            start = time.perf_counter()
            end = start + seconds
            frame_id = 0
            for _ in range(window):
                frame_id += 1
                sent[frame_id] = time.perf_counter()
                await ws.send(frame)
            while sent:
                message = json.loads(await ws.recv())
                latencies.append((time.perf_counter() - sent.pop(message["frame_id"])) * 1000)
                if time.perf_counter() < end:
                    frame_id += 1
                    sent[frame_id] = time.perf_counter()
                    await ws.send(frame)
            elapsed = time.perf_counter() - start
            await ws.send("end")
        return len(latencies) / elapsed, latencies
    return once
