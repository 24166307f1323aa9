"""The Open Inference Protocol's tensor forms, as pure functions (server/open_inference.py)."""

from __future__ import annotations

import pytest

from segmentation_client import InferTensor, InvalidInput, tensors
from server import open_inference as oip


def test_bytes_framing_round_trips_and_matches_tritonclients():
    raw = tensors.pack_bytes([b"ab", b"", b"xyz"])
    # tritonclient's serialize_byte_tensor writes exactly this: a little-endian uint32 length, then the bytes.
    assert raw == b"\x02\x00\x00\x00ab\x00\x00\x00\x00\x03\x00\x00\x00xyz"
    assert tensors.unpack_bytes(raw) == tensors.unpack_bytes(raw, 3) == [b"ab", b"", b"xyz"]
    assert InferTensor.from_files("IMAGE", [b"ab", b"", b"xyz"]).data == raw


@pytest.mark.parametrize(("raw", "count", "message"), [
    (b"\x09\x00\x00\x00abc", 1, "says 9 bytes, but only 3 remain"),
    (b"\x01\x00\x00\x00a\x01\x00", 2, "ends inside an element's 4-byte length, at byte 5"),
    (b"\x01\x00\x00\x00a", 2, "shape says 2 element"),
])
def test_a_bad_bytes_tensor_is_refused_alike_by_server_and_client(raw, count, message):
    with pytest.raises(tensors.TensorDataError, match=message):
        tensors.unpack_bytes(raw, count)
    with pytest.raises(oip.BadTensor, match=message):  # the server: INVALID_ARGUMENT, reason BAD_TENSOR
        oip.split_bytes(raw, count)
    with pytest.raises(InvalidInput, match=message):  # the client, reading a response
        InferTensor("MASK", "BYTES", [count], raw).as_numpy()


def test_client_reads_a_bytes_tensor_in_its_shape():
    tensor = InferTensor.from_files("MASK", [b"ab", b"xyz"])
    assert list(tensor.as_numpy()) == [b"ab", b"xyz"]


def test_uint8_in_typed_contents():
    from protos import open_inference_pb2 as pb
    from server.inference_servicer import tensor_from

    def message(values: list[int]) -> pb.ModelInferRequest.InferInputTensor:
        return pb.ModelInferRequest.InferInputTensor(
            name="IMAGE", datatype="UINT8", shape=[1, 1, len(values) // 3, 3],
            contents=pb.InferTensorContents(uint_contents=values))

    assert tensor_from(message([0, 128, 255]), None).data == bytes([0, 128, 255])
    with pytest.raises(oip.BadTensor, match="over 255"):
        tensor_from(message([0, 256, 1]), None)
