"""Bad input gets a clear error with the right status, and the server keeps serving."""

from __future__ import annotations

import io
import struct
import zlib

import grpc
import numpy as np
import pytest
from PIL import Image

from protos import segmentation_pb2 as pb
from protos import segmentation_pb2_grpc as pb_grpc


@pytest.fixture(scope="module")
def stub(grpc_address):
    with grpc.insecure_channel(grpc_address) as channel:
        yield pb_grpc.SegmenterStub(channel)


def png_bomb(width: int, height: int) -> bytes:
    """A valid greyscale PNG of the given size whose zero rows compress to almost nothing."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    compressor = zlib.compressobj(9)
    row = b"\0" * (width + 1)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def jpeg(size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(buf, "JPEG")
    return buf.getvalue()


def encoded(data: bytes, **fields) -> pb.SegmentRequest:
    return pb.SegmentRequest(image=pb.Image(encoded=data), **fields)


def raw(data: bytes, width: int, height: int, fmt=pb.PIXEL_FORMAT_RGB8) -> pb.SegmentRequest:
    return pb.SegmentRequest(image=pb.Image(raw=pb.RawImage(data=data, width=width, height=height, format=fmt)))


def gif() -> bytes:
    buf = io.BytesIO()
    Image.new("P", (8, 8)).save(buf, "GIF")
    return buf.getvalue()


CASES = {
    "empty": (encoded(b""), grpc.StatusCode.INVALID_ARGUMENT, "empty"),
    "no image": (pb.SegmentRequest(), grpc.StatusCode.INVALID_ARGUMENT, "no image"),
    "text": (encoded(b"just some text, not a picture"), grpc.StatusCode.INVALID_ARGUMENT, "not a JPEG, PNG, BMP or WebP"),
    "random bytes": (encoded(np.random.default_rng(1).bytes(5000)), grpc.StatusCode.INVALID_ARGUMENT, "not a JPEG"),
    "unsupported GIF": (encoded(gif()), grpc.StatusCode.INVALID_ARGUMENT, "not a JPEG, PNG, BMP or WebP"),
    "truncated JPEG": (encoded(jpeg((640, 480))[:700]), grpc.StatusCode.INVALID_ARGUMENT, "could not decode the JPEG"),
    "PNG bomb": (encoded(png_bomb(20000, 20000)), grpc.StatusCode.INVALID_ARGUMENT, "20000x20000 = 400000000 pixels"),
    "raw size mismatch": (raw(b"\0" * 100, 10, 10), grpc.StatusCode.INVALID_ARGUMENT, "needs 300 bytes"),
    "raw without format": (raw(b"\0" * 300, 10, 10, pb.PIXEL_FORMAT_UNSPECIFIED), grpc.StatusCode.INVALID_ARGUMENT, "pixel format"),
    "unknown model": (encoded(jpeg(), model="nope"), grpc.StatusCode.NOT_FOUND, "known models: deeplabv3-mobilenetv2-pascal"),
    "path in model id": (encoded(jpeg(), model="../../etc/passwd"), grpc.StatusCode.NOT_FOUND, "unknown model '../../etc/passwd'"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_refused_clearly(stub, case):
    request, code, message = CASES[case]
    with pytest.raises(grpc.RpcError) as info:
        stub.Segment(request, timeout=30)
    assert info.value.code() == code
    assert message in info.value.details()
    assert "Traceback" not in info.value.details()


def test_png_bomb_is_small_and_refused_without_decoding(stub):
    bomb = png_bomb(20000, 20000)
    assert len(bomb) < 1_000_000
    with pytest.raises(grpc.RpcError) as info:
        stub.Segment(encoded(bomb), timeout=5)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_oversized_message_is_refused_by_grpc(grpc_address):
    # A client allowed to send more than the server accepts (16 MiB).
    options = [("grpc.max_send_message_length", 64 * 1024 * 1024)]
    with grpc.insecure_channel(grpc_address, options=options) as channel:
        stub = pb_grpc.SegmenterStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.Segment(encoded(b"\xff" * (17 * 1024 * 1024)), timeout=30)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_server_still_serves_after_bad_input(stub, sample_bytes):
    for request, _, _ in CASES.values():
        with pytest.raises(grpc.RpcError):
            stub.Segment(request, timeout=30)
    response = stub.Segment(encoded(sample_bytes("cat_720p.jpg")), timeout=30)
    assert "cat" in [c.label for c in response.classes]
