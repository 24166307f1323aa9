"""Worker processes (`--worker-kind process`) serve as worker threads (the default) do: the same answers, a
stream's smoothing carried from worker to worker, calls abandoned midway that never mix up answers, their
memory counted in /metrics, and a worker that dies stopping the server with a failure."""

from __future__ import annotations

import os
import re
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import grpc
import httpx
import numpy as np
import pytest

from protos import segmentation_pb2 as pb
from protos import segmentation_pb2_grpc as pb_grpc
from segmentation_client import SegmentationClient
from tests.support import DEFAULT_MODEL, SAMPLES, SELFIE, resident_bytes, wait_for, worker_processes

pytestmark = pytest.mark.server

FRAMES = [(SAMPLES / f"traffic_frames/{i:04d}.bmp").read_bytes() for i in (1, 2, 3, 3, 2, 1)]


def _workers(server) -> list[int]:
    return worker_processes(server.proc.pid)


def _running(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


@pytest.fixture(scope="module")
def both_kinds(start_server):
    """A server of worker processes and one of worker threads, the same models."""
    flags = ("--models", f"{SELFIE},{DEFAULT_MODEL}", "--default-model", SELFIE)
    return start_server(*flags, "--worker-kind", "process"), start_server(*flags)


def test_worker_processes_answer_as_worker_threads_do(both_kinds, sample_bytes):
    processes, threads = both_kinds
    assert len(_workers(processes)) == 2 and _workers(threads) == []
    photo = sample_bytes("grace_hopper.bmp")
    with SegmentationClient(processes.address) as p, SegmentationClient(threads.address) as t:
        for model, options in ((SELFIE, {"alpha": True}), (SELFIE, {"refine_edges": True}), (DEFAULT_MODEL, {})):
            a = p.segment(photo, model, mask_encoding="raw", **options)
            b = t.segment(photo, model, mask_encoding="raw", **options)
            assert np.array_equal(a.mask, b.mask), model
            assert (a.alpha is None) == (b.alpha is None) and (a.alpha is None or np.array_equal(a.alpha, b.alpha))
            assert [(c.class_id, c.pixel_count) for c in a.classes] == [(c.class_id, c.pixel_count) for c in b.classes]
            assert a.timings.inference_ms > 0 and a.model == model


def test_a_streams_smoothing_goes_from_worker_to_worker(both_kinds):
    processes, threads = both_kinds

    def alphas(server, smoothing: float) -> list[np.ndarray]:
        with SegmentationClient(server.address) as client:
            results = list(client.stream(FRAMES, SELFIE, drop_policy="none", alpha=True, smoothing=smoothing))
        assert [r.frame_id for r in results] == list(range(1, len(FRAMES) + 1))
        return [r.alpha for r in results]

    smoothed = alphas(processes, 0.9)
    # Frames alternate between the two workers; each must start from the frame before, wherever it ran.
    assert all(np.array_equal(a, b) for a, b in zip(smoothed, alphas(threads, 0.9), strict=True))
    assert any(not np.array_equal(a, b) for a, b in zip(smoothed, alphas(processes, 0.0), strict=True)), \
        "smoothing changes these frames, so the comparison above shows the state travelled"


def test_calls_abandoned_midway_never_get_or_give_another_calls_answer(start_server, sample_bytes):
    server = start_server("--models", SELFIE, "--default-model", SELFIE, "--worker-kind", "process")
    photo = cv2.imdecode(np.frombuffer(sample_bytes("grace_hopper.bmp"), np.uint8), cv2.IMREAD_COLOR)
    # Each image a size of its own, so an answer that went to the wrong call shows in the mask's size.
    sizes = [(160 + 16 * i, 120 + 8 * i) for i in range(12)]
    images = [cv2.imencode(".png", cv2.resize(photo, size))[1].tobytes() for size in sizes]
    stop = threading.Event()

    def abandon():
        with grpc.insecure_channel(server.address) as channel:
            stub = pb_grpc.SegmenterStub(channel)
            while not stop.is_set():  # deadlines that end while a worker holds the call
                for timeout in (0.002, 0.005, 0.01):
                    try:
                        stub.Segment(pb.SegmentRequest(image=pb.Image(encoded=images[-1])), timeout=timeout)
                    except grpc.RpcError as exc:
                        assert exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED, exc

    def check(index: int) -> None:
        with SegmentationClient(server.address) as client:
            for _ in range(4):
                result = client.segment(images[index], frame_id=index)
                assert (result.frame_id, result.mask.shape[::-1]) == (index, sizes[index])

    with ThreadPoolExecutor(len(sizes) + 2) as pool:
        abandoning = [pool.submit(abandon) for _ in range(2)]
        try:
            for checked in [pool.submit(check, i) for i in range(len(sizes))]:
                checked.result()
        finally:
            stop.set()
        for each in abandoning:
            each.result()
    assert "Traceback" not in server.log()


def test_worker_memory_is_counted(both_kinds):
    processes, _ = both_kinds
    pids = [processes.proc.pid, *_workers(processes)]

    def counted() -> bool:
        text = httpx.get(processes.metrics_url, timeout=5).text
        memory = re.search(r"^segmentation_resident_memory_bytes (\S+)$", text, re.MULTILINE)
        resident = resident_bytes(pids)
        return memory is not None and 0.8 * resident <= float(memory.group(1)) <= 1.2 * resident

    wait_for(counted, "the serving process's and its workers' memory, summed", timeout=20)


def test_a_dead_worker_stops_the_server(start_server):
    server = start_server("--models", SELFIE, "--default-model", SELFIE, "--worker-kind", "process")
    first, second = _workers(server)
    with SegmentationClient(server.address) as client:
        assert client.segment(FRAMES[0]).model == SELFIE
        os.kill(first, signal.SIGKILL)
        assert server.proc.wait(30) == 1, "whatever restarts the server must see that it failed"
    log = server.log()
    assert re.search(r"worker process worker-\d \(pid \d+\) ended, exit code -9", log), log
    assert "server: stopped" in log
    wait_for(lambda: not _running(second), "the other worker to end with the server", timeout=15)


def test_large_images_several_to_a_worker_never_stall_the_server(start_server, sample_bytes):
    """Each worker holds two calls; images and answers (raw masks) far larger than a connection's buffers must
    still flow both ways."""
    server = start_server("--models", SELFIE, "--default-model", SELFIE, "--worker-kind", "process")
    photo = cv2.imdecode(np.frombuffer(sample_bytes("grace_hopper.bmp"), np.uint8), cv2.IMREAD_COLOR)
    big = cv2.imencode(".bmp", cv2.resize(photo, (1920, 1080)))[1].tobytes()  # 6 MB, as the wire carries it
    assert len(big) > 4 * 1024 * 1024

    def call(index: int) -> tuple[int, tuple[int, ...]]:
        with SegmentationClient(server.address) as client:
            result = client.segment(big, frame_id=index, mask_encoding="raw", timeout=60)
            return result.frame_id, result.mask.shape

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(call, range(8)))
    assert answers == [(i, (1080, 1920)) for i in range(8)]
