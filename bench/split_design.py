"""python -m bench.split_design: the other way of serving past the GIL, built only far enough to measure it.

One grpc.aio process answers `Segment`; the pixel work and inference (the service's own pipeline: decode,
preprocess, model, postprocess, PNG, the response message) run in worker processes, one model instance
each, forked before gRPC starts. A request's image goes to an idle worker through shared memory, with a
pipe carrying only its length; the worker writes the serialized response back into shared memory. The
bench (`--split-design`) measures it in the same run as the server (`python -m server --processes N`).
Nothing else of the service is here: one model, no limits, health, reload or metrics.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import signal
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory

import grpc

from protos import segmentation_pb2 as pb
from protos import segmentation_pb2_grpc as pb_grpc
from server.config import ServerSettings
from server.imaging import EncodedImage
from server.models import ModelRegistry
from server.pipeline import Pipeline
from server.servicer import response_from

log = logging.getLogger("split")
SLOT = 8 * 1024 * 1024  # bytes each way per worker: an image in, a response out


def _work(index: int, conn: Connection, memory: str, model: str) -> None:
    """A worker process: segment the image in its slot, write the response after it, say how long it is."""
    shm = SharedMemory(memory)
    settings = ServerSettings(models=[model], default_model=model, metrics_port=None, workers=1)
    registry = ModelRegistry(settings)
    registry.load(model)
    pipeline = Pipeline(registry, settings.max_image_pixels, settings.png_compression)
    start, buf = index * 2 * SLOT, _buffer(shm)
    conn.send(0)  # loaded
    while (size := conn.recv()) is not None:
        result = pipeline.run("", EncodedImage(bytes(buf[start:start + size])))
        answer = response_from(result, 0, pb.MASK_ENCODING_PNG).SerializeToString()
        buf[start + SLOT:start + SLOT + len(answer)] = answer
        conn.send(len(answer))
    shm.close()


def _buffer(shm: SharedMemory) -> memoryview:
    assert shm.buf is not None  # None only once closed
    return shm.buf


class _Workers(pb_grpc.SegmenterServicer):
    def __init__(self, shm: SharedMemory, conns: list[Connection]) -> None:
        self._buf, self._conns = _buffer(shm), conns
        self._idle: asyncio.Queue[int] = asyncio.Queue()
        for index in range(len(conns)):
            self._idle.put_nowait(index)

    async def _answer(self, index: int, image: bytes) -> bytes:
        loop = asyncio.get_running_loop()
        start, conn = index * 2 * SLOT, self._conns[index]
        self._buf[start:start + len(image)] = image
        done: asyncio.Future[int] = loop.create_future()

        def answered() -> None:
            if not done.done():
                done.set_result(conn.recv())
        loop.add_reader(conn.fileno(), answered)
        conn.send(len(image))
        try:
            size = await done
        finally:
            loop.remove_reader(conn.fileno())
        return bytes(self._buf[start + SLOT:start + SLOT + size])

    async def Segment(self, request: pb.SegmentRequest, context: grpc.aio.ServicerContext) -> pb.SegmentResponse:
        index = await self._idle.get()
        try:
            return pb.SegmentResponse.FromString(await self._answer(index, request.image.encoded))
        finally:
            self._idle.put_nowait(index)


async def _serve(port: int, shm: SharedMemory, conns: list[Connection]) -> None:
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", SLOT)])
    pb_grpc.add_SegmenterServicer_to_server(_Workers(shm, conns), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    log.info("split design serving on 127.0.0.1:%d with %d workers", port, len(conns))
    await server.wait_for_termination()


def _exit(*_: object) -> None:
    raise SystemExit(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    shm = SharedMemory(create=True, size=args.workers * 2 * SLOT)
    signal.signal(signal.SIGTERM, _exit)  # so that the shared memory is unlinked
    context = multiprocessing.get_context("fork")
    conns = []
    for index in range(args.workers):
        ours, theirs = context.Pipe()
        context.Process(target=_work, args=(index, theirs, shm.name, args.model), daemon=True).start()
        conns.append(ours)
    for conn in conns:
        conn.recv()
    try:
        asyncio.run(_serve(args.port, shm, conns))
    finally:
        shm.unlink()


if __name__ == "__main__":
    main()
