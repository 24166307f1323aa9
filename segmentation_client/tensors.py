"""Open Inference Protocol (KServe v2) tensors in their raw form: the data types and the BYTES framing.

The one codec the client, the server, the REST bridge and the bench share:

    from segmentation_client.tensors import pack_bytes, unpack_bytes
    raw = pack_bytes([b"ab", b"xyz"])          # b"\\x02\\x00\\x00\\x00ab\\x03\\x00\\x00\\x00xyz"
    assert unpack_bytes(raw, count=2) == [b"ab", b"xyz"]

A raw tensor is its elements row-major; a BYTES element is a 4-byte little-endian length, then its bytes
(what raw_input_contents and raw_output_contents carry, and tritonclient writes).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = ["BYTES_LENGTH", "NUMPY_DTYPES", "TensorDataError", "element_count", "pack_bytes", "unpack_bytes"]

# The protocol's numeric data types as numpy's.
NUMPY_DTYPES: dict[str, Any] = {
    "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
    "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64, "FP16": np.float16,
    "FP32": np.float32, "FP64": np.float64,
}
BYTES_LENGTH = struct.Struct("<I")


class TensorDataError(ValueError):
    """Raw tensor data that does not hold what its shape says; the message says where it goes wrong."""


def element_count(shape: Sequence[int]) -> int:
    """How many elements a tensor of this shape holds (a negative dimension counts as 0)."""
    count = 1
    for dim in shape:
        count *= max(int(dim), 0)
    return count


def pack_bytes(elements: Iterable[bytes]) -> bytes:
    """The raw form of a BYTES tensor: each element's 4-byte little-endian length, then its bytes."""
    return b"".join(BYTES_LENGTH.pack(len(e)) + bytes(e) for e in elements)


def unpack_bytes(raw: bytes, count: int | None = None) -> list[bytes]:
    """The elements of a BYTES tensor's raw form; with `count`, there must be exactly that many.

    Raises TensorDataError when the data ends inside a length or an element, or holds another count.
    """
    elements: list[bytes] = []
    offset = 0
    while offset < len(raw):
        if offset + BYTES_LENGTH.size > len(raw):
            raise TensorDataError(f"BYTES tensor data ends inside an element's 4-byte length, at byte {offset}")
        (length,) = BYTES_LENGTH.unpack_from(raw, offset)
        offset += BYTES_LENGTH.size
        if offset + length > len(raw):
            raise TensorDataError(f"BYTES element {len(elements)} says {length} bytes, but only "
                                  f"{len(raw) - offset} remain")
        elements.append(bytes(raw[offset:offset + length]))
        offset += length
    if count is not None and len(elements) != count:
        raise TensorDataError(f"BYTES tensor's shape says {count} element(s), its data holds {len(elements)}")
    return elements
