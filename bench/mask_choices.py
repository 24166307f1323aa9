"""python -m bench.mask_choices (also run by python -m bench.choices): what masks at the input's size cost.

With the fast selfie model, in one process on one core (as a worker runs), interleaved so that a busy
machine slows every variant alike:
  * added ms per image at 640x480, 1920x1080 and 3840x2160 for deciding at the display size (against
    nearest-neighbour enlargement of the model's mask), the soft mask (and its PNG), refined edges and
    temporal smoothing;
  * frames per second of the whole pipeline (decode a JPEG, infer, masks, PNG) at 640x480 with each on,
    and the ratio to nearest-neighbour enlargement (the issue's limit: at most 10% slower);
  * flicker of a still noisy clip (share of foreground pixels that change between frames) with and
    without smoothing, and the lag smoothing adds on a moving clip (in frames).
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from server import imaging, masks
from server.config import ServerSettings
from server.imaging import EncodedImage
from server.loading import LoadedModel, load_model
from server.masks import MaskOptions, Placement
from server.smoothing import TemporalSmoother

SAMPLES = Path("../shared/samples")
SIZES = {"640x480": (640, 480), "1080p": (1920, 1080), "4K": (3840, 2160)}


def portrait(width: int, height: int, shift: int = 0) -> np.ndarray:
    """grace_hopper.bmp as a width x height BGR frame: scaled to the height, sides mirrored, moved `shift` px."""
    still = cv2.imread(str(SAMPLES / "grace_hopper.bmp"))
    assert still is not None, "run from the repository root, beside ../shared/samples"
    side = round(still.shape[1] * height / still.shape[0])
    still = cv2.resize(still, (side, height), interpolation=cv2.INTER_AREA if side < 512 else cv2.INTER_CUBIC)
    pad = max(0, width - side)
    wide = cv2.copyMakeBorder(still, 0, 0, pad // 2 + shift, pad - pad // 2 + 2 * abs(shift), cv2.BORDER_REFLECT)
    return np.ascontiguousarray(wide[:, :width])


def interleaved(variants: dict[str, Callable[[], object]], rounds: int = 15, runs: int = 3) -> dict[str, float]:
    """Median ms of each variant, the variants taking turns round after round."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for fn in variants.values():
        fn()
    for _ in range(rounds):
        for name, fn in variants.items():
            start = time.perf_counter()
            for _ in range(runs):
                fn()
            times[name].append((time.perf_counter() - start) * 1000 / runs)
    return {name: statistics.median(t) for name, t in times.items()}


def postprocess_costs(model: LoadedModel) -> None:
    print("masks from the selfie model's output at the input's size, ms per image (median, interleaved):")
    print(f"  {'':8} {'nearest':>8} {'display':>8} {'+alpha':>8} {'+PNG':>8} {'+refine':>8} {'+smooth':>8}")
    for name, (width, height) in SIZES.items():
        ms = _costs_at(model, width, height)
        base = ms["nearest"]
        added = [ms["display"] - base, ms["alpha"] - ms["display"], ms["png"] - ms["display"],
                 ms["refine"] - ms["display"], ms["smooth"] - ms["display"]]
        print(f"  {name:8} {base:8.2f} " + " ".join(f"{a:+8.2f}" for a in added))
    print("  (nearest: the time of the old way; display: ms added to it; +alpha, +PNG (alpha and its PNG), "
          "+refine, +smooth: ms added to display)")


def _costs_at(model: LoadedModel, width: int, height: int) -> dict[str, float]:
    transform, spec = model.transform, model.spec
    rgb = cv2.cvtColor(portrait(width, height), cv2.COLOR_BGR2RGB)
    tensor, valid = transform(rgb)
    output = model.backend.run(tensor)[0]
    where = Placement(valid, transform.size, width, height)
    smoother = TemporalSmoother(0.8)

    def nearest() -> object:
        return imaging.restore_mask(model.class_ids(output), valid, width, height, transform.size)

    def alpha_png() -> object:
        _, alpha = masks.display_masks(output, spec, where, MaskOptions(alpha=True))
        assert alpha is not None
        return imaging.encode_png(alpha)

    return interleaved({
        "nearest": nearest,
        "display": lambda: masks.display_masks(output, spec, where, masks.PLAIN),
        "alpha": lambda: masks.display_masks(output, spec, where, MaskOptions(alpha=True)),
        "png": alpha_png,
        "refine": lambda: masks.display_masks(output, spec, where, MaskOptions(refine_edges=True), rgb),
        "smooth": lambda: masks.display_masks(output, spec, where, MaskOptions(smoother=smoother)),
    }, rounds=9 if width > 2000 else 15)


def guide_choice() -> None:
    """The guided filter with the picture's colour as guide against its luma, as refine() uses."""
    print("cv2.ximgproc.guidedFilter of a float plane, guide in colour vs luma (ms, median, interleaved):")
    for name in ("640x480", "1080p"):
        width, height = SIZES[name]
        colour = cv2.cvtColor(portrait(width, height), cv2.COLOR_BGR2RGB)
        luma = cv2.cvtColor(colour, cv2.COLOR_RGB2GRAY)
        plane = np.random.default_rng(0).random((height, width), dtype=np.float32)
        radius = max(2, round(2 * width / 256))
        ms = interleaved({
            "colour": lambda: cv2.ximgproc.guidedFilter(colour, plane, radius, masks.REFINE_EPS),  # noqa: B023
            "luma": lambda: cv2.ximgproc.guidedFilter(luma, plane, radius, masks.REFINE_EPS),  # noqa: B023
        }, rounds=5, runs=1)
        print(f"  {name:8} colour {ms['colour']:7.1f}  luma {ms['luma']:7.1f}")


def throughput(model: LoadedModel) -> None:
    """The whole per-frame pipeline at 640x480, as a live stream sends it."""
    transform, spec = model.transform, model.spec
    frame = cv2.imencode(".jpg", portrait(640, 480), [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()
    smoother = TemporalSmoother(0.8)

    def pipeline(options: MaskOptions | None) -> Callable[[], object]:
        def run() -> object:
            if options is not None and options.refine_edges:  # as the pipeline decodes a guide
                decoded = imaging.decode(EncodedImage(frame), 40_000_000, masks.GUIDE_BOX)
            else:
                decoded = imaging.decode(EncodedImage(frame), 40_000_000, transform.size, transform.stretch)
            tensor, valid = transform(decoded.rgb)
            output = model.backend.run(tensor)[0]
            if options is None:
                mask = imaging.restore_mask(model.class_ids(output), valid, decoded.width, decoded.height,
                                            transform.size)
                return imaging.encode_png(mask)
            where = Placement(valid, transform.size, decoded.width, decoded.height)
            mask, alpha = masks.display_masks(output, spec, where, options,
                                              decoded.rgb if options.refine_edges else None)
            return imaging.encode_png(mask), alpha is not None and imaging.encode_png(alpha)
        return run

    ms = interleaved({
        "nearest (before)": pipeline(None),
        "display size": pipeline(masks.PLAIN),
        "+ alpha": pipeline(MaskOptions(alpha=True)),
        "+ refine_edges": pipeline(MaskOptions(refine_edges=True)),
        "+ smoothing 0.8": pipeline(MaskOptions(smoother=smoother)),
    }, rounds=25, runs=8)
    base = ms["nearest (before)"]
    print("selfie model, 640x480 JPEG frame, whole pipeline on one core (interleaved):")
    for name, took in ms.items():
        print(f"  {name:18} {1000 / took:6.1f} frames/s  {took:6.2f} ms  {base / took:6.1%} of before's throughput")


def clip_masks(model: LoadedModel, frames: list[np.ndarray], ratio: float) -> list[np.ndarray]:
    smoother = TemporalSmoother(ratio) if ratio else None
    options = MaskOptions(smoother=smoother)
    result = []
    for bgr in frames:
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        tensor, valid = model.transform(rgb)
        where = Placement(valid, model.transform.size, bgr.shape[1], bgr.shape[0])
        result.append(masks.display_masks(model.backend.run(tensor)[0], model.spec, where, options)[0])
    return result


def steadiness(model: LoadedModel) -> None:
    rng = np.random.default_rng(7)
    still = portrait(640, 480)
    noisy = [np.clip(still + rng.normal(0, 12, still.shape), 0, 255).astype(np.uint8) for _ in range(60)]
    speed = 4  # px a frame: a person leaning across a 640-pixel frame in about 3 s at 30 frames/s
    moving = [portrait(640, 480, shift=speed * i) for i in range(30)]
    print("smoothing: flicker on a still noisy clip (60 frames, noise sigma 12) and lag on a moving one "
          f"({speed} px a frame):")
    for ratio in (0.0, 0.5, 0.7, 0.9):
        still_masks = clip_masks(model, noisy, ratio)
        changed = [(a != b).sum() / max(1, int((b == 1).sum())) for a, b in itertools.pairwise(still_masks)]
        plain = clip_masks(model, moving, 0.0)
        smoothed = clip_masks(model, moving, ratio)
        # Lag: how far the smoothed mask's centre trails the unsmoothed one's, in frames of motion.
        lag = [(_centre(p) - _centre(s)) / speed for p, s in zip(plain[5:], smoothed[5:])]
        differ = np.mean([(p != s).mean() for p, s in zip(plain[5:], smoothed[5:])])
        print(f"  ratio {ratio:.1f}: flicker {np.mean(changed):7.3%}, lag {abs(float(np.mean(lag))):5.2f} frames, "
              f"{differ:6.3%} of pixels differ from the unsmoothed mask while moving")


def _centre(mask: np.ndarray) -> float:
    columns = np.flatnonzero(mask.any(axis=0))
    weights = mask.sum(axis=0, dtype=np.int64)
    return float((np.arange(mask.shape[1]) * weights).sum() / max(1, weights.sum())) if columns.size else 0.0


def main() -> None:
    cv2.setNumThreads(1)  # one request's work on one core, as in a worker
    settings = ServerSettings(workers=1, threads=1, metrics_port=None, download=False)
    model = load_model(Path("model_repository/selfie-segmentation"), settings)
    postprocess_costs(model)
    guide_choice()
    throughput(model)
    steadiness(model)


if __name__ == "__main__":
    main()
