"""Make the README's figures of masks at the input's size: a cut-out and a before/after crop of an edge.

    python scripts/mask_figures.py --before HOST:PORT --after HOST:PORT --out docs/

`--before` is a server of the code before masks were decided at the input's size (nearest-neighbour
enlargement), `--after` one of this code; both serve selfie-segmentation. The photo is grace_hopper.bmp
enlarged to 1080 rows and widened to 1920 columns by mirroring its sides.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from segmentation_client import SegmentationClient

SAMPLE = Path("../shared/samples/grace_hopper.bmp")
MODEL = "selfie-segmentation"
ZOOM = 3


def full_hd_portrait() -> np.ndarray:
    portrait = cv2.imread(str(SAMPLE))
    if portrait is None:
        raise SystemExit(f"cannot read {SAMPLE}: run from the repository root")
    portrait = cv2.resize(portrait, (921, 1080), interpolation=cv2.INTER_CUBIC)
    return cv2.copyMakeBorder(portrait, 0, 0, 499, 500, cv2.BORDER_REFLECT)


def panel(bgr: np.ndarray, mask: np.ndarray, box: tuple[int, int, int, int], title: str) -> np.ndarray:
    """The crop enlarged ZOOM times (nearest, so pixels show), the person tinted, its outline drawn."""
    x, y, w, h = box
    crop = cv2.resize(bgr[y:y + h, x:x + w], (w * ZOOM, h * ZOOM), interpolation=cv2.INTER_NEAREST)
    person = cv2.resize(mask[y:y + h, x:x + w], (w * ZOOM, h * ZOOM), interpolation=cv2.INTER_NEAREST)
    tinted = crop.copy()
    tinted[person == 1] = (0.55 * crop[person == 1] + 0.45 * np.array([60, 200, 60])).astype(np.uint8)
    edge = cv2.morphologyEx(person, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    tinted[edge] = (255, 255, 255)
    cv2.putText(tinted, title, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 4, cv2.LINE_AA)
    cv2.putText(tinted, title, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 1, cv2.LINE_AA)
    return tinted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True)
    parser.add_argument("--after", required=True)
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args()
    bgr = full_hd_portrait()
    photo = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()
    with SegmentationClient(args.before) as before, SegmentationClient(args.after) as after:
        old = before.segment(photo, MODEL, mask_encoding="raw").mask
        new = after.segment(photo, MODEL, mask_encoding="raw", alpha=True)
        refined = after.segment(photo, MODEL, mask_encoding="raw", alpha=True, refine_edges=True)
    box = (1090, 110, 200, 150)  # the cap's right side against the backdrop
    strip = np.hstack([panel(bgr, old, box, "before: model grid"), panel(bgr, new.mask, box, "input's size"),
                       panel(bgr, refined.mask, box, "refine_edges")])
    cv2.imwrite(str(args.out / "edges_before_after.jpg"), strip, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert refined.alpha is not None
    cut = np.dstack([bgr, refined.alpha])[:, 420:1500]
    cut = cv2.resize(cut, (cut.shape[1] * 2 // 5, cut.shape[0] * 2 // 5), interpolation=cv2.INTER_AREA)
    # 256 colours with their alpha: a third of the size of the full-colour PNG, and it looks the same.
    rgba = Image.fromarray(cv2.cvtColor(cut, cv2.COLOR_BGRA2RGBA))
    rgba.quantize(256, method=Image.Quantize.FASTOCTREE).save(args.out / "cutout.png", optimize=True)


if __name__ == "__main__":
    main()
