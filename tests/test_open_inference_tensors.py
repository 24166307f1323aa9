"""The Open Inference Protocol's tensor forms, as pure functions (server/open_inference.py)."""

from __future__ import annotations

import pytest

from server import open_inference as oip


def test_bytes_tensor_split():
    raw = oip.join_bytes([b"ab", b"", b"xyz"])
    assert oip.split_bytes(raw, 3) == [b"ab", b"", b"xyz"]
    with pytest.raises(oip.BadTensor, match="says 9 bytes"):
        oip.split_bytes(b"\x09\x00\x00\x00abc", 1)
    with pytest.raises(oip.BadTensor, match="shape says 2"):
        oip.split_bytes(raw, 2)
