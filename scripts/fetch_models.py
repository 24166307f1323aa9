"""Fill the model folder: copy from a local mirror when there is one, else download; verify sha256."""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import urllib.request
from pathlib import Path

UPSTREAM = "https://github.com/google-coral/test_data/raw/master/"
FILES = {
    "deeplabv3_mnv2_pascal_quant.tflite": "350af47fd346ea6d74b58833a351f583ba860e9806ec5bd292ff8d8f1f249398",
    "deeplabv3_mnv2_dm05_pascal_quant.tflite": "0470d2a782aa54eeeb99d32e7b6b3fb7722905c7c4f5d26bd957ec861366d48b",
    "pascal_voc_segmentation_labels.txt": None,  # text; the server checks it has 21 labels
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(name: str, expected: str | None, dest: Path, mirror: Path | None) -> str:
    target = dest / name
    if target.is_file() and (expected is None or sha256(target) == expected):
        return "present"
    partial = target.with_suffix(target.suffix + ".part")
    if mirror is not None and (mirror / name).is_file():
        shutil.copyfile(mirror / name, partial)
        how = f"copied from {mirror}"
    else:
        with urllib.request.urlopen(UPSTREAM + name, timeout=60) as response, partial.open("wb") as out:
            shutil.copyfileobj(response, out)
        how = f"downloaded from {UPSTREAM}"
    if expected is not None and (actual := sha256(partial)) != expected:
        partial.unlink()
        raise SystemExit(f"{name}: sha256 {actual} does not match the expected {expected}")
    partial.replace(target)
    return how


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dest", type=Path, default=Path("models"))
    parser.add_argument("--mirror", type=Path, default=Path("../shared/models"))
    args = parser.parse_args()
    args.dest.mkdir(parents=True, exist_ok=True)
    mirror = args.mirror if args.mirror.is_dir() else None
    for name, expected in FILES.items():
        try:
            print(f"{name}: {fetch(name, expected, args.dest, mirror)}")
        except OSError as exc:
            sys.exit(f"{name}: could not fetch ({exc}); put the file in {args.dest} by hand")


if __name__ == "__main__":
    main()
