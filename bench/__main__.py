"""python -m bench: measure the service against the in-process pipeline and against its peers.

Every row runs `--repeats` times for `--seconds` after a warm-up; the table shows the median
throughput, its spread over the repeats, latency percentiles over all repeats, and the cores
used by the serving processes and by this load generator.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import httpx

from bench import services
from bench.measure import CpuMeter, Row, closed_loop, summarize
from segmentation_client import AsyncSegmentationClient
from server import imaging
from server.config import ServerSettings
from server.imaging import EncodedImage
from server.models import ModelRegistry
from server.pipeline import Pipeline

SAMPLES = Path("../shared/samples")


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.image = (SAMPLES / "cat_720p.jpg").read_bytes()
        frame = cv2.resize(cv2.imread(str(SAMPLES / "cat_720p.jpg")), (640, 480), interpolation=cv2.INTER_AREA)
        self.frame = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()
        self.rows: list[Row] = []

    async def repeat(self, name: str, once, pids: list[int], **extra) -> Row:
        """Warm up, then run `once()` -> (images/s, latencies) the configured number of times."""
        await once(self.args.warmup)
        results, cpu = [], []
        for _ in range(self.args.repeats):
            with CpuMeter(pids) as meter:
                results.append(await once(self.args.seconds))
            # In-process rows have no separate server: all the work is this process's.
            cpu.append((meter.server, meter.client) if pids else (meter.client, 0.0))
        row = summarize(name, [(r[0], r[1]) for r in results], cpu, **extra)
        if results and len(results[0]) > 2:
            row.extra.update(results[-1][2])
        print(f"  {name}: {row.throughput:.1f} img/s, p50 {row.p50_ms:.0f} ms, p95 {row.p95_ms:.0f} ms", flush=True)
        self.rows.append(row)
        return row

    def closed(self, call, concurrency: int):
        async def once(seconds: float):
            start = time.perf_counter()
            count, latencies = await closed_loop(call, concurrency, seconds)
            return count / (time.perf_counter() - start), latencies
        return once

    async def in_process(self) -> None:
        settings = ServerSettings(models=["deeplabv3-mobilenetv2-pascal"], metrics_port=None)
        registry = ModelRegistry(settings)
        model = registry.load(registry.default_id).loaded
        pipeline = Pipeline(registry, settings.max_image_pixels, settings.png_compression)
        backend, transform = model.backend, model.transform
        decoded = imaging.decode(EncodedImage(self.image), settings.max_image_pixels, transform.size)
        tensor = transform(decoded.rgb)[0]
        loop = asyncio.get_running_loop()
        concurrency = settings.workers * 2  # keeps every worker busy
        with ThreadPoolExecutor(settings.workers) as pool:
            infer = lambda: loop.run_in_executor(pool, backend.run, tensor)
            run = lambda: loop.run_in_executor(pool, pipeline.run, "", EncodedImage(self.image))
            await self.repeat("1. model only (preprocessed input)", self.closed(infer, concurrency), [],
                              workers=settings.workers, threads=settings.threads)
            await self.repeat("2. in-process pipeline", self.closed(run, concurrency), [],
                              workers=settings.workers, threads=settings.threads)
            frame = lambda: loop.run_in_executor(pool, pipeline.run, "", EncodedImage(self.frame))
            await self.repeat("2. in-process pipeline, one 640x480 frame at a time", self.closed(frame, 1), [])

    async def grpc(self) -> None:
        with services.grpc_server("--models", "deeplabv3-mobilenetv2-pascal") as (proc, address):
            async with AsyncSegmentationClient(address, timeout=60) as client:
                call = lambda: client.segment(self.image)
                for concurrency in (1, 2, 4, 8):
                    await self.repeat(f"3. gRPC Segment, concurrency {concurrency}",
                                      self.closed(call, concurrency), [proc.pid])
                await self.repeat("4. gRPC SegmentStream NONE (640x480)", self.stream(client, "none", 0), [proc.pid])
                await self.repeat("4. gRPC SegmentStream LATEST, 30 fps offered (640x480)",
                                  self.stream(client, "latest", 30), [proc.pid])
            if self.args.rest:
                await self.rest(proc, address)

    def stream(self, client: AsyncSegmentationClient, policy: str, fps: float):
        async def once(seconds: float):
            sent: dict[int, float] = {}
            end = time.perf_counter() + seconds

            async def frames():
                frame_id = 0
                while time.perf_counter() < end:
                    frame_id += 1
                    sent[frame_id] = time.perf_counter()
                    yield frame_id, self.frame
                    if fps:
                        await asyncio.sleep(max(0.0, sent[frame_id] + 1 / fps - time.perf_counter()))

            start = time.perf_counter()
            latencies, dropped = [], 0
            async for result in client.stream(frames(), drop_policy=policy):
                latencies.append((time.perf_counter() - sent[result.frame_id]) * 1000)
                dropped = result.frames_dropped
            elapsed = time.perf_counter() - start
            return len(latencies) / elapsed, latencies, {"offered": len(sent), "dropped": dropped,
                                                          "drop_rate": dropped / max(1, len(sent))}
        return once

    async def rest(self, grpc_proc, address: str) -> None:
        port = services.free_port()
        args = ["rest_bridge", "--port", str(port), "--grpc.target", address]
        with services.http_process(args, port, "/healthz") as (proc, base):
            async with httpx.AsyncClient(base_url=base, timeout=60) as http:
                for fmt in ("png", "json"):
                    async def call(fmt=fmt):
                        response = await http.post("/v1/segment", params={"format": fmt}, content=self.image,
                                                   headers={"content-type": "image/jpeg"})
                        response.raise_for_status()
                    for concurrency in (1, 4):
                        await self.repeat(f"5. REST POST /v1/segment {fmt}, concurrency {concurrency}",
                                          self.closed(call, concurrency), [grpc_proc.pid, proc.pid])

    async def peers(self) -> None:
        for which, label in (("original", "6. original design (FastAPI, model in handler)"), ("litserve", "7. LitServe")):
            port = services.free_port()
            probe = "/docs" if which == "original" else "/health"
            with services.http_process(["bench.peers", which, "--port", str(port)], port, probe) as (proc, base):
                async with httpx.AsyncClient(base_url=base, timeout=60) as http:
                    path = "/segment" if which == "original" else "/predict"

                    async def call(path: str = path):
                        files = {"file": ("cat.jpg", self.image, "image/jpeg")}
                        (await http.post(path, files=files)).raise_for_status()
                    for concurrency in (1, 4):
                        await self.repeat(f"{label}, concurrency {concurrency}", self.closed(call, concurrency),
                                          [proc.pid])

    async def run(self) -> None:
        print(f"bench: {self.args.repeats} x {self.args.seconds:.0f} s per row after {self.args.warmup:.0f} s warm-up")
        await self.in_process()
        await self.grpc()
        if self.args.peers:
            await self.peers()
        pipeline = next(r for r in self.rows if r.name.startswith("2."))
        single = next(r for r in self.rows if "one 640x480 frame" in r.name)
        for row in self.rows:
            row.ratio = row.throughput / pipeline.throughput
            if "LATEST" in row.name:
                row.extra["p95_vs_single_frame"] = row.p95_ms / single.p50_ms


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def table(rows: list[Row]) -> str:
    lines = ["| measurement | img/s | spread | p50 ms | p95 ms | p99 ms | serving cores | load-gen cores | vs (2) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        note = ""
        if "drop_rate" in r.extra:
            note = f" (dropped {r.extra['drop_rate']:.0%} of {r.extra['offered']})"
        if "p95_vs_single_frame" in r.extra:
            note += f", p95 = {r.extra['p95_vs_single_frame']:.2f}x one frame"
        lines.append(f"| {r.name}{note} | {r.throughput:.1f} | {r.spread[0]:.1f}-{r.spread[1]:.1f} | {r.p50_ms:.0f} "
                     f"| {r.p95_ms:.0f} | {r.p99_ms:.0f} | {r.server_cpu:.2f} | {r.client_cpu:.2f} "
                     f"| {r.ratio:.0%} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--no-rest", dest="rest", action="store_false")
    parser.add_argument("--no-peers", dest="peers", action="store_false")
    parser.add_argument("--output", type=Path, default=Path("bench-results/latest.json"))
    args = parser.parse_args()
    bench = Bench(args)
    asyncio.run(bench.run())
    text = table(bench.rows)
    info = machine()
    print(f"\n{info['cpu']}, {info['cores']} cores, Python {info['python']}, {info['date']}\n\n{text}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"machine": info, "rows": [r.as_dict() for r in bench.rows]}, indent=2))
    args.output.with_suffix(".md").write_text(f"{info['cpu']}, {info['cores']} cores, {info['date']}\n\n{text}\n")


if __name__ == "__main__":
    main()
