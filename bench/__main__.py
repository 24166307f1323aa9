"""python -m bench: measure the service against the in-process pipeline and against its peers.

For each model (DeepLab, whose 130 ms hide the service's costs, and the fast selfie model, which
shows them), every row runs `--repeats` times for `--seconds` after a warm-up; the table shows the
median throughput, its spread over the repeats, latency percentiles over all repeats, the cores used
by the serving processes and by this load generator, and the ratio to that model's in-process pipeline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import httpx
import numpy as np

from bench import services, streams
from bench.measure import CpuMeter, Row, closed_loop, summarize
from bench.segmenter import DEFAULT_MODEL, FAST_MODEL, REPOSITORY
from segmentation_client import AsyncSegmentationClient, InferTensor, tensors
from server import imaging
from server.allocator import keep_freed_memory
from server.config import ServerSettings
from server.imaging import EncodedImage
from server.loading import resources_for
from server.model_config import load_spec
from server.models import ModelRegistry
from server.pipeline import Pipeline

SAMPLES = Path("../shared/samples")


# The live-streams row again with each mask option on, for models with a soft mask (issue 21).
MASK_OPTIONS: dict[str, dict[str, object]] = {
    " + soft mask": {"alpha": True}, " + refine_edges": {"refine_edges": True}, " + smoothing 0.8": {"smoothing": 0.8},
}


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.photo = (SAMPLES / "cat_720p.jpg").read_bytes()
        photo = cv2.imdecode(np.frombuffer(self.photo, np.uint8), cv2.IMREAD_COLOR)
        assert photo is not None
        frame = cv2.resize(photo, (640, 480), interpolation=cv2.INTER_AREA)
        self.frame = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()
        self.rows: list[Row] = []
        self.model = DEFAULT_MODEL
        self.image = self.photo
        self.suffix = ""  # names the server's --processes when the run compares several

    def use(self, model: str) -> None:
        """Rows from now on are of `model`: DeepLab on the 720p photo, the fast video model on 640x480 frames."""
        self.model = model
        self.image = self.photo if model == DEFAULT_MODEL else self.frame

    async def repeat(self, name: str, once, pids: list[int], **extra) -> Row:
        """Warm up, then run `once()` -> (images/s, latencies) the configured number of times."""
        await once(self.args.warmup)
        results, cpu = [], []
        for _ in range(self.args.repeats):
            with CpuMeter(pids) as meter:
                results.append(await once(self.args.seconds))
            # In-process rows have no separate server: all the work is this process's.
            cpu.append((meter.server, meter.client) if pids else (meter.client, 0.0))
        row = summarize(name + self.suffix, [(r[0], r[1]) for r in results], cpu, **extra)
        row.model = self.model
        if results and len(results[0]) > 2:
            row.extra.update(results[-1][2])
        print(f"  {self.model} {name}: {row.throughput:.1f} img/s, p50 {row.p50_ms:.0f} ms, "
              f"p95 {row.p95_ms:.0f} ms", flush=True)
        self.rows.append(row)
        return row

    def closed(self, call, concurrency: int):
        async def once(seconds: float):
            start = time.perf_counter()
            count, latencies = await closed_loop(call, concurrency, seconds)
            return count / (time.perf_counter() - start), latencies
        return once

    async def in_process(self) -> None:
        settings = ServerSettings(models=[self.model], default_model=self.model, metrics_port=None)
        registry = ModelRegistry(settings)
        loaded = registry.load(registry.default_id)
        model = loaded.loaded if loaded is not None else None
        if model is None:
            raise RuntimeError(f"model {self.model} did not load: {loaded.reason if loaded else 'unknown'}")
        pipeline = Pipeline(registry, settings.max_image_pixels, settings.png_compression)
        backend, transform = model.backend, model.transform
        decoded = imaging.decode(EncodedImage(self.image), settings.max_image_pixels, transform.size, transform.stretch)
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
        model.retire()

    async def grpc(self, processes: str | None) -> None:
        """The gRPC rows (and the bridge's), against a server of `processes` processes (None: its default;
        "PxW": P processes of W workers each; ":thread" or ":process" after it: the workers' kind)."""
        shape, _, kind = (processes or "").partition(":")
        count, _, workers = shape.partition("x")
        flags = [*(["--processes", count] if count else []), *(["--workers", workers] if workers else []),
                 *(["--worker-kind", kind] if kind else [])]
        self.suffix = ", " + " ".join(flags) if flags and len(self.args.processes) > 1 else ""
        with services.grpc_server("--models", self.model, "--default-model", self.model, *flags) as (proc, address):
            async with contextlib.AsyncExitStack() as stack:
                # Each caller its own client and connection, as separate callers have.
                pool = [await stack.enter_async_context(AsyncSegmentationClient(address, timeout=60))
                        for _ in range(16)]
                client = pool[0]
                for concurrency in (1, 4, 16):
                    turns = itertools.cycle(pool[:concurrency])
                    call = lambda turns=turns: next(turns).segment(self.image, self.model)
                    await self.repeat(f"3. gRPC Segment, concurrency {concurrency}", self.closed(call, concurrency),
                                      [proc.pid])
                await self.repeat("4. gRPC SegmentStream NONE (640x480)",
                                  streams.grpc_stream(client, self.model, self.frame, "none", 0), [proc.pid])
                await self.repeat("4. gRPC SegmentStream LATEST, 30 fps offered (640x480)",
                                  streams.grpc_stream(client, self.model, self.frame, "latest", 30), [proc.pid])
                if self.args.rest:
                    await self.rest(proc, address)
                await self.live(address, proc.pid)
                if self.args.mask_options and (await client.get_model(self.model)).soft_mask:
                    for label, options in MASK_OPTIONS.items():
                        await self.live(address, proc.pid, label, options)
        self.suffix = ""

    async def live(self, address: str, pid: int, label: str = "", options: dict | None = None) -> None:
        """The most 30 fps cameras the server keeps up with (each p95 <= 66 ms, < 1 % dropped), 1 upwards;
        `options` are the streams' mask options, named by `label` in the row."""
        best, extra = None, dict[str, object]()
        for n in range(1, self.args.max_live + 1):
            with CpuMeter([pid]) as meter:
                rate, latencies, extra = await streams.live(address, self.model, self.frame, n, self.args.seconds,
                                                            options)
            print(f"    {n} live streams: worst p95 {extra['worst_p95_ms']:.0f} ms, "
                  f"worst drop {extra['drop_rate']:.1%}", flush=True)
            if not extra["passed"]:
                break
            best = summarize("", [(rate, latencies)], [(meter.server, meter.client)], **extra)
        if best is None:  # not even one camera: the row says how far the first one was off
            best = summarize("", [(0.0, [])], [(0.0, 0.0)], **{**extra, "streams": 0})
        best.name = f"8. live streams per machine (30 fps 640x480 each, LATEST, a connection each){label}" + self.suffix
        best.model = self.model
        self.rows.append(best)

    async def rest(self, grpc_proc, address: str) -> None:
        port = services.free_port()
        args = ["rest_bridge", "--port", str(port), "--grpc.target", address]
        with services.http_process(args, port, "/healthz") as (proc, base):
            pids = [grpc_proc.pid, proc.pid]
            async with httpx.AsyncClient(base_url=base, timeout=60) as http:
                for fmt in ("png", "json"):
                    async def call(fmt=fmt):
                        response = await http.post("/v1/segment", params={"format": fmt, "model": self.model},
                                                   content=self.image, headers={"content-type": "image/jpeg"})
                        response.raise_for_status()
                    for concurrency in (1, 4):
                        await self.repeat(f"5. REST POST /v1/segment {fmt}, concurrency {concurrency}",
                                          self.closed(call, concurrency), pids)
            url = f"ws://127.0.0.1:{port}/v1/stream?model={self.model}&drop_policy=none"
            await self.repeat("5. WebSocket /v1/stream NONE, 4 frames in flight (640x480)",
                              streams.websocket_stream(url, self.frame, 4), pids)

    async def peers(self) -> None:
        for which, label in (("original", "6. original design (FastAPI, model in handler)"), ("litserve", "7. LitServe")):
            port = services.free_port()
            probe = "/docs" if which == "original" else "/health"
            args = ["bench.peers", which, "--port", str(port), "--model", self.model]
            with services.http_process(args, port, probe) as (proc, base):
                async with httpx.AsyncClient(base_url=base, timeout=60) as http:
                    path = "/segment" if which == "original" else "/predict"

                    async def call(path: str = path):
                        files = {"file": ("image.jpg", self.image, "image/jpeg")}
                        (await http.post(path, files=files)).raise_for_status()
                    for concurrency in (1, 4):
                        await self.repeat(f"{label}, concurrency {concurrency}", self.closed(call, concurrency),
                                          [proc.pid])
        if self.args.triton:
            await self.triton()

    async def triton(self) -> None:
        # The instances and threads the service gives this model (its config, else the server's defaults).
        resources = resources_for(load_spec(REPOSITORY / self.model), ServerSettings(metrics_port=None))
        batching = self.args.triton_batching
        with services.triton_server(self.model, resources.instances, resources.threads, batching) as (proc, address):
            shape = [1, 1] if batching else [1]
            tensor = InferTensor("IMAGE", "BYTES", shape, tensors.pack_bytes([self.image]))
            async with AsyncSegmentationClient(address, timeout=60) as client:
                call = lambda: client.inference.infer("segment", [tensor])
                for concurrency in (1, 4):
                    await self.repeat(f"9. NVIDIA Triton 2.51 (pytriton), {resources.instances}x{resources.threads} "
                                      f"threads, dynamic batching {'on' if batching else 'off'}, "
                                      f"concurrency {concurrency}", self.closed(call, concurrency), [proc.pid])

    async def run(self) -> None:
        print(f"bench: {self.args.repeats} x {self.args.seconds:.0f} s per row after {self.args.warmup:.0f} s warm-up")
        for model in self.args.models:
            self.use(model)
            first = len(self.rows)
            await self.in_process()
            for processes in self.args.processes or [None]:
                await self.grpc(processes)
            if self.args.peers:
                await self.peers()
            rows = self.rows[first:]
            pipeline = next(r for r in rows if r.name.startswith("2."))
            single = next(r for r in rows if "one 640x480 frame" in r.name)
            for row in rows:
                row.ratio = row.throughput / pipeline.throughput
                if "LATEST" in row.name and row.p95_ms:
                    row.extra["p95_vs_single_frame"] = row.p95_ms / single.p50_ms


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def _note(r: Row) -> str:
    if "streams" in r.extra:
        return f": **{r.extra['streams']}** (worst stream p95 {r.extra.get('worst_p95_ms', 0):.0f} ms)"
    note = f" (dropped {r.extra['drop_rate']:.0%} of {r.extra['offered']})" if "drop_rate" in r.extra else ""
    if "p95_vs_single_frame" in r.extra:
        note += f", p95 = {r.extra['p95_vs_single_frame']:.2f}x one frame"
    return note


def table(rows: list[Row]) -> str:
    lines = []
    for model in dict.fromkeys(r.model for r in rows):
        lines += ["", f"**{model}**", "",
                  "| measurement | img/s | spread | p50 ms | p95 ms | p99 ms | serving cores | load-gen cores | vs (2) |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in (r for r in rows if r.model == model):
            lines.append(f"| {r.name}{_note(r)} | {r.throughput:.1f} | {r.spread[0]:.1f}-{r.spread[1]:.1f} "
                         f"| {r.p50_ms:.0f} | {r.p95_ms:.0f} | {r.p99_ms:.0f} | {r.server_cpu:.2f} "
                         f"| {r.client_cpu:.2f} | {r.ratio:.0%} |")
    return "\n".join(lines).strip()


def main() -> None:
    keep_freed_memory()  # as the server does: the in-process rows use the allocator the same way
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--models", type=lambda s: s.split(","), default=[DEFAULT_MODEL, FAST_MODEL],
                        help="comma-separated model ids")
    parser.add_argument("--processes", type=lambda s: s.split(","), default=[],
                        help="the server's --processes, comma-separated to compare several (default: its own); "
                             "PxW: P processes of W workers each; a suffix :thread or :process sets --worker-kind "
                             "(1:thread,1:process compares the two)")
    parser.add_argument("--max-live", type=int, default=12, help="most live streams to try")
    parser.add_argument("--no-rest", dest="rest", action="store_false")
    parser.add_argument("--no-mask-options", dest="mask_options", action="store_false",
                        help="skip the live-streams rows with soft masks, refined edges and smoothing")
    parser.add_argument("--no-peers", dest="peers", action="store_false")
    parser.add_argument("--no-triton", dest="triton", action="store_false", help="skip the Triton peer")
    parser.add_argument("--triton-batching", action="store_true",
                        help="Triton's dynamic batcher on (off by default: measured slower here)")
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
