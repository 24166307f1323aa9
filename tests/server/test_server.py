"""The real gRPC server with the real int8 model, called through the generated stubs."""

from __future__ import annotations

import io

import cv2
import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from PIL import Image

from protos import segmentation_pb2 as pb
from tests.support import DEFAULT_MODEL, SAMPLES

pytestmark = pytest.mark.server

PERSON, CAT, CAR, BIRD = 15, 8, 7, 3


def segment(stub, data: bytes, **fields) -> pb.SegmentResponse:
    return stub.Segment(pb.SegmentRequest(image=pb.Image(encoded=data), **fields), timeout=30)


def decode_mask(mask: pb.Mask) -> np.ndarray:
    if mask.encoding == pb.MASK_ENCODING_RAW:
        return np.frombuffer(mask.data, np.uint8).reshape(mask.height, mask.width)
    assert mask.encoding == pb.MASK_ENCODING_PNG
    decoded = cv2.imdecode(np.frombuffer(mask.data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded.ndim == 2 and decoded.dtype == np.uint8, "mask PNG must be 8-bit single-channel"
    return decoded


def largest_foreground(response: pb.SegmentResponse) -> int:
    return next(c.class_id for c in response.classes if c.class_id != 0)


def test_list_models(stub):
    response = stub.ListModels(pb.ListModelsRequest(), timeout=10)
    assert response.default_model == DEFAULT_MODEL
    models = {m.id: m for m in response.models}
    assert set(models) == {DEFAULT_MODEL, "deeplabv3-mobilenetv2-dm05-pascal"}
    default = models[DEFAULT_MODEL]
    assert default.available and default.is_default and default.runtime == "litert" and default.device == "cpu"
    assert (default.input_width, default.input_height) == (513, 513)
    assert default.labels[0] == "background" and default.labels[CAT] == "cat" and len(default.labels) == 21
    assert len(default.palette) == 21 and (default.palette[1].r, default.palette[1].g) == (128, 0)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("grace_hopper.bmp", PERSON), ("cat_720p.jpg", CAT), ("bird_segmentation.bmp", BIRD)]
    + [(f"traffic_frames/000{i}.bmp", CAR) for i in (1, 2, 3)],
)
def test_samples_find_their_class(stub, sample_bytes, name, expected):
    response = segment(stub, sample_bytes(name))
    width, height = Image.open(SAMPLES / name).size
    mask = decode_mask(response.mask)
    assert mask.shape == (height, width), "the mask has the input's resolution"
    assert largest_foreground(response) == expected
    assert response.model == DEFAULT_MODEL
    assert sum(c.fraction for c in response.classes) == pytest.approx(1.0, abs=1e-4)
    assert {c.class_id for c in response.classes} == set(np.unique(mask).tolist())
    t = response.timings
    assert t.inference_ms > 0 and t.total_ms >= t.decode_ms + t.inference_ms + t.encode_ms


def test_bird_mask_matches_the_reference(stub, sample_bytes):
    response = segment(stub, sample_bytes("bird_segmentation.bmp"), mask_encoding=pb.MASK_ENCODING_RAW)
    mask = decode_mask(response.mask)
    reference = np.asarray(Image.open(SAMPLES / "bird_segmentation_mask.bmp"))
    agreement = (mask == reference).mean()
    assert agreement >= 0.975, f"only {agreement:.3%} of pixels agree with the reference mask"


def test_small_people_are_found_at_full_resolution(stub, sample_bytes):
    response = segment(stub, sample_bytes("kite_and_cold.jpg"))
    assert (response.mask.width, response.mask.height) == (1352, 900)
    person = [c for c in response.classes if c.class_id == PERSON]
    assert person and 0 < person[0].fraction < 0.01


def test_raw_pixels_rgb_and_bgr_agree_with_encoded(stub, sample_bytes):
    bgr = cv2.imread(str(SAMPLES / "grace_hopper.bmp"))
    height, width = bgr.shape[:2]
    encoded = decode_mask(segment(stub, sample_bytes("grace_hopper.bmp")).mask)
    for pixels, fmt in ((bgr, pb.PIXEL_FORMAT_BGR8), (bgr[:, :, ::-1], pb.PIXEL_FORMAT_RGB8)):
        raw = pb.RawImage(data=np.ascontiguousarray(pixels).tobytes(), width=width, height=height, format=fmt)
        response = stub.Segment(pb.SegmentRequest(image=pb.Image(raw=raw)), timeout=30)
        np.testing.assert_array_equal(decode_mask(response.mask), encoded)


def test_second_model_by_id(stub, sample_bytes):
    response = segment(stub, sample_bytes("cat_720p.jpg"), model="deeplabv3-mobilenetv2-dm05-pascal")
    assert response.model == "deeplabv3-mobilenetv2-dm05-pascal"
    assert largest_foreground(response) == CAT


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16"])
def test_other_png_modes_are_valid_input(stub, mode):
    img = Image.open(SAMPLES / "grace_hopper.bmp")
    img = Image.fromarray(np.asarray(img.convert("L"), np.uint16) * 257) if mode == "I;16" else img.convert(mode)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    response = segment(stub, buf.getvalue())
    assert (response.mask.width, response.mask.height) == (512, 600)
    assert largest_foreground(response) == PERSON


def test_exif_rotated_jpeg_gets_a_rotated_mask(stub):
    img = Image.open(SAMPLES / "grace_hopper.bmp").rotate(90, expand=True)  # lying on its side, 600x512
    exif = Image.Exif()
    exif[0x0112] = 6  # viewers turn it upright: 512x600
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes(), quality=95)
    response = segment(stub, buf.getvalue())
    assert (response.mask.width, response.mask.height) == (512, 600)
    assert largest_foreground(response) == PERSON


def test_stream_answers_every_frame_in_order(stub, sample_bytes):
    names = [f"traffic_frames/000{i}.bmp" for i in (1, 2, 3)] * 4
    options = pb.StreamOptions(drop_policy=pb.DROP_POLICY_NONE)
    requests = [
        pb.SegmentRequest(image=pb.Image(encoded=sample_bytes(n)), frame_id=100 + i,
                          stream_options=options if i == 0 else None)
        for i, n in enumerate(names)
    ]
    responses = list(stub.SegmentStream(iter(requests), timeout=60))
    assert [r.frame_id for r in responses] == [100 + i for i in range(len(names))]
    assert all(largest_foreground(r) == CAR and r.frames_dropped == 0 for r in responses)


def test_stream_reports_a_bad_frame_and_goes_on(stub, sample_bytes):
    frames = [sample_bytes("traffic_frames/0001.bmp"), b"garbage", sample_bytes("traffic_frames/0002.bmp")]
    options = pb.StreamOptions(drop_policy=pb.DROP_POLICY_NONE)
    requests = [pb.SegmentRequest(image=pb.Image(encoded=f), frame_id=i + 1, stream_options=options) for i, f in enumerate(frames)]
    responses = list(stub.SegmentStream(iter(requests), timeout=60))
    assert [r.frame_id for r in responses] == [1, 2, 3]
    assert responses[1].HasField("error") and responses[1].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "not a JPEG" in responses[1].error.message
    assert not responses[0].HasField("error") and not responses[2].HasField("error")


def test_health_and_reflection(channel):
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "segmentation.v1.Segmenter"):
        status = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status
        assert status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    (response,) = list(reflection.ServerReflectionInfo(iter([request]), timeout=5))
    names = {s.name for s in response.list_services_response.service}
    assert {"segmentation.v1.Segmenter", "grpc.health.v1.Health"} <= names
    request = reflection_pb2.ServerReflectionRequest(file_containing_symbol="segmentation.v1.Segmenter")
    (response,) = list(reflection.ServerReflectionInfo(iter([request]), timeout=5))
    assert response.file_descriptor_response.file_descriptor_proto


def test_health_answers_while_the_model_works(channel, stub, sample_bytes):
    data = sample_bytes("kite_and_cold.jpg")
    calls = [stub.Segment.future(pb.SegmentRequest(image=pb.Image(encoded=data)), timeout=60) for _ in range(6)]
    health = health_pb2_grpc.HealthStub(channel)
    assert health.Check(health_pb2.HealthCheckRequest(), timeout=0.5).status == health_pb2.HealthCheckResponse.SERVING
    assert not all(call.done() for call in calls), "health answered only after the work was done"
    assert all(call.result().classes for call in calls)
