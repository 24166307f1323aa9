"""python -m bench.choices: the measurements behind the pipeline's choices of library and setting.

Decode (Pillow with JPEG draft mode, as the server does, vs full Pillow vs OpenCV), resize
interpolation, and the zlib level of PNG masks (time and size). Median of many runs each.
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from server import imaging
from server.imaging import EncodedImage

SAMPLES = Path("../shared/samples")


def median_ms(fn: Callable[[], object], runs: int = 40) -> float:
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    cv2.setNumThreads(1)  # one request's work on one core, as in a worker
    jpeg = (SAMPLES / "cat_720p.jpg").read_bytes()
    print("decode cat_720p.jpg (1280x720) to RGB for a 513 input:")
    print(f"  Pillow, draft mode (server)  {median_ms(lambda: imaging.decode(EncodedImage(jpeg), 10**8, (513, 513))):6.1f} ms")
    print(f"  Pillow, full size            {median_ms(lambda: np.asarray(Image.open(io.BytesIO(jpeg)).convert('RGB'))):6.1f} ms")
    buf = np.frombuffer(jpeg, np.uint8)
    full_cv = lambda: cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    print(f"  OpenCV imdecode + BGR->RGB   {median_ms(full_cv):6.1f} ms")
    reduced_cv = lambda: cv2.imdecode(buf, cv2.IMREAD_REDUCED_COLOR_2)
    print(f"  OpenCV IMREAD_REDUCED_COLOR_2 {median_ms(reduced_cv):5.1f} ms (BGR; no EXIF, no header-first size check)")
    rgb = full_cv()
    print("resize 1280x720 -> 513x289:")
    for name, flag in (("INTER_LINEAR", cv2.INTER_LINEAR), ("INTER_AREA", cv2.INTER_AREA)):
        print(f"  {name:<28} {median_ms(lambda flag=flag: cv2.resize(rgb, (513, 289), interpolation=flag)):6.2f} ms")
    mask = np.zeros((720, 1280), np.uint8)
    mask[77:, 125:] = 8  # a cat-sized region, like a real mask
    print("PNG-encode a 1280x720 mask (time, size):")
    for level in (1, 6, 9):
        params = [cv2.IMWRITE_PNG_COMPRESSION, level]
        size = len(cv2.imencode(".png", mask, params)[1])
        took = median_ms(lambda params=params: cv2.imencode(".png", mask, params))
        print(f"  OpenCV default filters, zlib {level} {took:6.2f} ms  {size:7d} B")
    for level in (1, 6):
        size = len(imaging.encode_png(mask, level))
        took = median_ms(lambda level=level: imaging.encode_png(mask, level))
        print(f"  no filter, RLE, zlib {level} (server) {took:5.2f} ms  {size:7d} B")


if __name__ == "__main__":
    main()
