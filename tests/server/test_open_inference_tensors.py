"""The Open Inference Protocol's tensor forms, as pure functions (server/open_inference.py)."""

from __future__ import annotations

import pytest

from segmentation_client import InferTensor
from server import open_inference as oip


def test_bytes_tensor_split():
    raw = InferTensor.from_files("IMAGE", [b"ab", b"", b"xyz"]).data  # the client's framing, as tritonclient's
    assert oip.split_bytes(raw, 3) == [b"ab", b"", b"xyz"]
    with pytest.raises(oip.BadTensor, match="says 9 bytes"):
        oip.split_bytes(b"\x09\x00\x00\x00abc", 1)
    with pytest.raises(oip.BadTensor, match="shape says 2"):
        oip.split_bytes(raw, 2)


def test_client_refuses_a_cut_short_bytes_tensor():
    from segmentation_client import InvalidInput

    tensor = InferTensor.from_files("MASK", [b"ab", b"xyz"])
    assert list(tensor.as_numpy()) == [b"ab", b"xyz"]
    with pytest.raises(InvalidInput, match="cut short"):
        InferTensor("MASK", "BYTES", [2], tensor.data[:-1]).as_numpy()
    with pytest.raises(InvalidInput, match="holds 2 element"):
        InferTensor("MASK", "BYTES", [3], tensor.data).as_numpy()


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
