"""Bad input gets a clear error with the right status, odd but valid images are segmented, the server serves on."""

from __future__ import annotations

import cv2
import grpc
import numpy as np
import pytest

from protos import segmentation_pb2 as pb
from protos import segmentation_pb2_grpc as pb_grpc
from tests.support import (
    animated_gif,
    cat,
    declared_size_jpeg,
    exif_rotated_jpeg,
    first_frame_cat,
    gif,
    jpeg,
    noise,
    png_16_bit,
    png_bomb,
    save,
    tall_png,
)

pytestmark = pytest.mark.server


def encoded(data: bytes, **fields) -> pb.SegmentRequest:
    return pb.SegmentRequest(image=pb.Image(encoded=data), **fields)


def raw(data: bytes, width: int, height: int, fmt=pb.PIXEL_FORMAT_RGB8) -> pb.SegmentRequest:
    return pb.SegmentRequest(image=pb.Image(raw=pb.RawImage(data=data, width=width, height=height, format=fmt)))


CASES = {
    "empty": (encoded(b""), grpc.StatusCode.INVALID_ARGUMENT, "empty"),
    "no image": (pb.SegmentRequest(), grpc.StatusCode.INVALID_ARGUMENT, "no image"),
    "text": (encoded(b"just some text, not a picture"), grpc.StatusCode.INVALID_ARGUMENT, "not a JPEG, PNG, BMP or WebP"),
    "random bytes": (encoded(np.random.default_rng(1).bytes(5000)), grpc.StatusCode.INVALID_ARGUMENT, "not a JPEG"),
    "unsupported GIF": (encoded(gif()), grpc.StatusCode.INVALID_ARGUMENT, "not a JPEG, PNG, BMP or WebP"),
    "animated GIF": (encoded(animated_gif()), grpc.StatusCode.INVALID_ARGUMENT, "not a JPEG, PNG, BMP or WebP"),
    "truncated JPEG": (encoded(jpeg((640, 480))[:700]), grpc.StatusCode.INVALID_ARGUMENT, "could not decode the JPEG"),
    "truncated PNG": (encoded(save(noise(64, 48), "PNG")[:4000]), grpc.StatusCode.INVALID_ARGUMENT,
                      "could not decode the PNG"),
    "truncated BMP": (encoded(save(noise(64, 48), "BMP")[:4000]), grpc.StatusCode.INVALID_ARGUMENT,
                      "could not decode the BMP"),
    "PNG bomb": (encoded(png_bomb(20000, 20000)), grpc.StatusCode.INVALID_ARGUMENT, "20000x20000 = 400000000 pixels"),
    "JPEG header over the limit": (encoded(declared_size_jpeg(60000, 60000)), grpc.StatusCode.INVALID_ARGUMENT,
                                   "60000x60000 = 3600000000 pixels, over the limit"),
    # Under the pixel limit, but no PNG mask of it can be written (libpng's limit on a side).
    "side over a million": (encoded(tall_png(1, 1_000_001)), grpc.StatusCode.INVALID_ARGUMENT,
                            "a side may be at most 1000000 pixels"),
    "raw side over a million": (raw(b"\0" * 3_000_003, 1_000_001, 1), grpc.StatusCode.INVALID_ARGUMENT,
                                "a side may be at most 1000000 pixels"),
    "raw size mismatch": (raw(b"\0" * 100, 10, 10), grpc.StatusCode.INVALID_ARGUMENT, "needs 300 bytes"),
    "raw with no pixels": (raw(b"", 0, 600), grpc.StatusCode.INVALID_ARGUMENT, "no pixels (0x600)"),
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


# Valid but odd: these must be segmented, with a mask of the input's (displayed) size.
# name: (request, (width, height) of the mask, a label the mask must have or None)
VALID = {
    "1x600 JPEG": lambda: (encoded(save(noise(1, 600), "JPEG")), (1, 600), None),
    "600x1 JPEG": lambda: (encoded(save(noise(600, 1), "JPEG")), (600, 1), None),
    "1x600 PNG": lambda: (encoded(save(noise(1, 600), "PNG")), (1, 600), None),
    "600x1 PNG": lambda: (encoded(save(noise(600, 1), "PNG")), (600, 1), None),
    # Scaled to the model's input, the short side rounds to 0: the letterbox must keep 1 pixel.
    "1x2000 PNG": lambda: (encoded(save(noise(1, 2000), "PNG")), (1, 2000), None),
    "2000x1 PNG": lambda: (encoded(save(noise(2000, 1), "PNG")), (2000, 1), None),
    "1x1 PNG": lambda: (encoded(save(noise(1, 1), "PNG")), (1, 1), None),
    "2x5000 JPEG, decoded reduced": lambda: (encoded(save(noise(2, 5000), "JPEG")), (2, 5000), None),
    "600x1 JPEG turned by EXIF": lambda: (encoded(exif_rotated_jpeg(600, 1)), (1, 600), None),
    "1x1000000 PNG, the longest side allowed": lambda: (encoded(tall_png(1, 1_000_000)), (1, 1_000_000), None),
    "raw 1x600": lambda: (raw(np.asarray(noise(1, 600)).tobytes(), 1, 600), (1, 600), None),
    "raw 600x1": lambda: (raw(np.asarray(noise(600, 1)).tobytes(), 600, 1), (600, 1), None),
    "CMYK JPEG": lambda: (encoded(save(cat().convert("CMYK"), "JPEG", quality=90)), (1280, 720), "cat"),
    "16-bit RGB PNG": lambda: (encoded(png_16_bit(cat((640, 360)))), (640, 360), "cat"),
    "16-bit RGBA PNG": lambda: (encoded(png_16_bit(cat((640, 360)), alpha=True)), (640, 360), "cat"),
    "animated WebP": lambda: (encoded(first_frame_cat("WEBP")), (640, 360), "cat"),
    "animated PNG": lambda: (encoded(first_frame_cat("PNG")), (640, 360), "cat"),
}


def check_mask(response: pb.SegmentResponse, size: tuple[int, int]) -> np.ndarray:
    """The response's mask, checked to be a class-id PNG of `size` whose classes add up."""
    assert (response.mask.width, response.mask.height) == size
    mask = cv2.imdecode(np.frombuffer(response.mask.data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert mask is not None and mask.shape == (size[1], size[0]) and mask.dtype == np.uint8
    assert sum(c.pixel_count for c in response.classes) == size[0] * size[1]
    assert set(np.unique(mask)) == {c.class_id for c in response.classes}
    return mask


@pytest.mark.parametrize("case", VALID)
def test_valid_but_odd_images_are_segmented(stub, case):
    request, size, label = VALID[case]()
    response = stub.Segment(request, timeout=60)
    check_mask(response, size)
    if label:
        assert label in [c.label for c in response.classes]


@pytest.mark.parametrize("fmt", ["WEBP", "PNG"])
def test_an_animated_image_is_segmented_from_its_first_frame(stub, fmt):
    still = save(cat((640, 360)), fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    first = stub.Segment(encoded(still), timeout=60)
    response = stub.Segment(encoded(first_frame_cat(fmt)), timeout=60)
    assert response.mask.data == first.mask.data  # the very mask of the first frame alone
    assert "cat" in [c.label for c in response.classes]  # the later (grey) frames would be background only


def test_a_huge_model_id_is_not_found(stub):
    with pytest.raises(grpc.RpcError) as info:
        stub.Segment(encoded(jpeg(), model="x" * 100_000), timeout=30)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert len(info.value.details()) < 1000  # the id is cut short in the message


def test_huge_metadata_is_refused_and_the_server_serves_on(stub):
    for metadata in ([("x-big", "a" * 100_000)], [(f"x-h{i}", "v") for i in range(5000)]):
        with pytest.raises(grpc.RpcError) as info:
            stub.Segment(encoded(jpeg()), timeout=30, metadata=metadata)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert stub.Segment(encoded(jpeg()), timeout=30).mask.width == 64
