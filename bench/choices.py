"""python -m bench.choices: the measurements behind the pipeline's choices of library and setting.

Decode (Pillow with JPEG draft mode, as the server does, vs full Pillow vs OpenCV), resize
interpolation, the zlib level of PNG masks (time and size), and for the fast models: float
normalisation (numpy vs a look-up table) and counting class areas (np.bincount vs cv2.calcHist).
Median of many runs each. Then the costs of masks at the input's size (bench/mask_choices.py).
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from bench import mask_choices
from server import imaging
from server.imaging import EncodedImage
from server.model_config import load_spec
from server.pipeline import class_areas
from server.transforms import InputTransform

SAMPLES = Path("../shared/samples")


def median_ms(fn: Callable[[], object], runs: int = 40) -> float:
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def pillow_draft(data: bytes, need: tuple[int, int] | None) -> np.ndarray:
    """How the server decoded a JPEG before: Pillow throughout, reduced in the decoder when `need` allows."""
    img = Image.open(io.BytesIO(data))
    if need:
        img.draft("RGB", need)
    return np.asarray(img.convert("RGB"))


def main() -> None:
    cv2.setNumThreads(1)  # one request's work on one core, as in a worker
    jpeg = (SAMPLES / "cat_720p.jpg").read_bytes()
    print("decode cat_720p.jpg (1280x720) to RGB for a 513 input:")
    print(f"  server (Pillow header, OpenCV at half size) {median_ms(lambda: imaging.decode(EncodedImage(jpeg), 10**8, (513, 513))):5.1f} ms")
    print(f"  Pillow, draft mode (before)  {median_ms(lambda: pillow_draft(jpeg, (513, 289))):6.1f} ms")
    print(f"  Pillow, full size            {median_ms(lambda: np.asarray(Image.open(io.BytesIO(jpeg)).convert('RGB'))):6.1f} ms")
    buf = np.frombuffer(jpeg, np.uint8)

    def full_cv() -> np.ndarray:
        pixels = cv2.imdecode(buf, cv2.IMREAD_COLOR_RGB)
        assert pixels is not None
        return pixels
    print(f"  OpenCV imdecode RGB          {median_ms(full_cv):6.1f} ms")
    print(f"  OpenCV IMREAD_REDUCED_COLOR_2 {median_ms(lambda: cv2.imdecode(buf, cv2.IMREAD_REDUCED_COLOR_2)):5.1f} ms")
    frame = cv2.imencode(".jpg", cv2.resize(full_cv(), (640, 480), interpolation=cv2.INTER_AREA),
                         [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()
    print("decode a 640x480 frame for a 256x256 input (stretch):")
    print(f"  server (Pillow header, OpenCV) {median_ms(lambda: imaging.decode(EncodedImage(frame), 10**8, (256, 256), True)):4.2f} ms")
    print(f"  Pillow (before)              {median_ms(lambda: pillow_draft(frame, None)):6.2f} ms")
    rgb = full_cv()
    print("resize 1280x720 -> 513x289:")
    for name, flag in (("INTER_LINEAR", cv2.INTER_LINEAR), ("INTER_AREA", cv2.INTER_AREA)):
        took = median_ms(partial(cv2.resize, rgb, (513, 289), interpolation=flag))
        print(f"  {name:<28} {took:6.2f} ms")
    mask = np.zeros((720, 1280), np.uint8)
    mask[77:, 125:] = 8  # a cat-sized region, like a real mask
    print("PNG-encode a 1280x720 mask (time, size):")
    for level in (1, 6, 9):
        params = [cv2.IMWRITE_PNG_COMPRESSION, level]
        size = len(cv2.imencode(".png", mask, params)[1])
        took = median_ms(partial(cv2.imencode, ".png", mask, params))
        print(f"  OpenCV default filters, zlib {level} {took:6.2f} ms  {size:7d} B")
    for level in (1, 6):
        size = len(imaging.encode_png(mask, level))
        took = median_ms(partial(imaging.encode_png, mask, level))
        print(f"  no filter, RLE, zlib {level} (server) {took:5.2f} ms  {size:7d} B")
    fast_models()
    mask_choices.main()


def fast_models() -> None:
    """The per-frame steps that a 4 ms model makes visible."""
    transform = InputTransform.for_spec(load_spec(Path("model_repository/selfie-segmentation")))
    small, _ = imaging.stretch(np.random.default_rng(0).integers(0, 256, (480, 640, 3), np.uint8), transform.size)

    def broadcast():
        pixels = small.astype(np.float32)
        pixels *= transform.gain
        pixels += transform.offset
        return pixels
    print("normalise a 256x256 frame to float32 (x * gain + offset per channel):")
    print(f"  numpy astype, *=, +=          {median_ms(broadcast):6.2f} ms")
    table = transform._lut
    assert table is not None
    print(f"  cv2.LUT, float32 table (server) {median_ms(lambda: cv2.LUT(small, table)):4.2f} ms")
    mask = np.zeros((480, 640), np.uint8)
    mask[100:, 200:] = 1
    print("count the classes of a 640x480 mask:")
    print(f"  np.bincount                  {median_ms(lambda: np.bincount(mask.ravel(), minlength=2)):6.2f} ms")
    hist = lambda: cv2.calcHist([mask], [0], None, [256], [0, 256])
    print(f"  cv2.calcHist (server)        {median_ms(hist):6.2f} ms")
    print(f"  class_areas (server, all)    {median_ms(lambda: class_areas(mask, ['background', 'person'])):6.2f} ms")


if __name__ == "__main__":
    main()
