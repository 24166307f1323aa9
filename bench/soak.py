"""python -m bench.soak: unary calls and streams against one server for a while; server memory must stay flat.

Prints the server's RSS at start and end (after warm-up) and every error seen; exits 1 on an error
or when RSS grew by more than --max-growth-mib.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import psutil

from bench import services
from segmentation_client import AsyncSegmentationClient, InvalidInput

SAMPLES = Path("../shared/samples")


async def unary(client: AsyncSegmentationClient, image: bytes, end: float, counts: dict, errors: list) -> None:
    while time.monotonic() < end:
        try:
            await client.segment(image)
            counts["unary"] += 1
            try:
                await client.segment(b"\x89PNG broken")  # provoked: must stay a clean INVALID_ARGUMENT
            except InvalidInput:
                counts["provoked"] += 1
        except Exception as exc:  # noqa: BLE001 - the soak reports every unexpected failure
            errors.append(repr(exc))


async def streams(client: AsyncSegmentationClient, frame: bytes, end: float, counts: dict, errors: list) -> None:
    while time.monotonic() < end:
        try:
            async for result in client.stream([frame] * 30, drop_policy="latest"):
                counts["frames"] += 1
                if result.error:
                    errors.append(repr(result.error))
        except Exception as exc:  # noqa: BLE001
            errors.append(repr(exc))


async def idle_stream(client: AsyncSegmentationClient, frame: bytes, end: float, idle: float, counts: dict,
                      errors: list) -> None:
    """One stream for the whole soak: bursts of frames with `idle` seconds of silence between them, as a
    paused camera sends; at the real keepalive defaults the stream must survive every pause."""

    async def bursts():
        while time.monotonic() < end:
            for _ in range(10):
                yield frame
            await asyncio.sleep(min(idle, max(0.0, end - time.monotonic())))
            counts["idle_pauses"] += 1

    try:
        async for result in client.stream(bursts(), drop_policy="none"):
            counts["idle_stream_frames"] += 1
            if result.error:
                errors.append(repr(result.error))
    except Exception as exc:  # noqa: BLE001
        errors.append(f"idle stream: {exc!r}")


def _rss(proc: psutil.Process) -> int:
    """The resident memory of the server: its supervisor and serving processes together."""
    return sum(p.memory_info().rss for p in (proc, *proc.children(recursive=True)))


async def soak(seconds: float, address: str, pid: int, idle: float) -> tuple[float, float, dict, list]:
    image = (SAMPLES / "cat_720p.jpg").read_bytes()
    frame = (SAMPLES / "traffic_frames/0001.bmp").read_bytes()
    counts = {"unary": 0, "provoked": 0, "frames": 0, "idle_pauses": 0, "idle_stream_frames": 0}
    errors: list[str] = []
    proc = psutil.Process(pid)
    async with AsyncSegmentationClient(address, timeout=60) as client:
        # Warm up with every kind of call the soak makes, so that their first allocations (gRPC's
        # buffers for concurrent streams, the model's arenas) are not counted as growth.
        warm = time.monotonic() + min(30.0, seconds / 10)
        await asyncio.gather(unary(client, image, warm, counts, errors), unary(client, image, warm, counts, errors),
                             streams(client, frame, warm, counts, errors),
                             idle_stream(client, frame, warm, 1.0, counts, errors))
        counts.update(dict.fromkeys(counts, 0))
        start_rss = _rss(proc)
        end = time.monotonic() + seconds
        await asyncio.gather(unary(client, image, end, counts, errors), unary(client, image, end, counts, errors),
                             streams(client, frame, end, counts, errors),
                             idle_stream(client, frame, end, idle, counts, errors))
        end_rss = _rss(proc)
    return start_rss / 2**20, end_rss / 2**20, counts, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--max-growth-mib", type=float, default=50)
    parser.add_argument("--idle-seconds", type=float, default=100,
                        help="pause between the bursts of the idle stream (default keepalive settings apply)")
    args = parser.parse_args()
    with services.grpc_server("--models", "deeplabv3-mobilenetv2-pascal") as (proc, address):
        start, end, counts, errors = asyncio.run(soak(args.seconds, address, proc.pid, args.idle_seconds))
    print(f"server RSS: {start:.0f} MiB at start, {end:.0f} MiB after {args.seconds:.0f} s ({end - start:+.0f} MiB)")
    print(f"calls: {counts['unary']} unary, {counts['provoked']} provoked errors answered, {counts['frames']} stream frames")
    print(f"idle stream: {counts['idle_stream_frames']} frames in bursts around {counts['idle_pauses']} pauses of "
          f"{args.idle_seconds:.0f} s")
    for error in errors[:10]:
        print(f"error: {error}")
    if errors or end - start > args.max_growth_mib:
        sys.exit(1)


if __name__ == "__main__":
    main()
