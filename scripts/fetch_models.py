"""Fill a model repository's folders with the files their model.toml names: weights and label files.

Each file comes from a local mirror when it has one of that name (../shared/models), else from the
URL in the config; a file with a sha256 in the config is checked, and one already present and
matching is left alone.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tomllib
import urllib.request
from pathlib import Path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wanted(config: dict) -> list[tuple[str, str, str | None]]:
    """(file, url, sha256) of each file the config names that can be fetched."""
    files: list[tuple[str, str, str | None]] = []
    weights = config.get("weights", {})
    if weights.get("file") and weights.get("url"):
        files.append((weights["file"], weights["url"], weights.get("sha256")))
    if config.get("labels_file") and config.get("labels_url"):
        files.append((config["labels_file"], config["labels_url"], None))
    return files


def fetch(target: Path, url: str, expected: str | None, mirror: Path | None) -> str:
    if target.is_file() and (expected is None or sha256(target) == expected.lower()):
        return "present"
    partial = target.with_suffix(target.suffix + ".part")
    if mirror is not None and (mirror / target.name).is_file():
        shutil.copyfile(mirror / target.name, partial)
        how = f"copied from {mirror}"
    else:
        with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as out:
            shutil.copyfileobj(response, out)
        how = f"downloaded from {url}"
    if expected is not None and (actual := sha256(partial)) != expected.lower():
        partial.unlink()
        raise SystemExit(f"{target}: sha256 {actual} does not match the expected {expected}")
    partial.replace(target)
    return how


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repository", type=Path, default=Path("model_repository"))
    parser.add_argument("--mirror", type=Path, default=Path("../shared/models"))
    args = parser.parse_args()
    mirror = args.mirror if args.mirror.is_dir() else None
    for config_path in sorted(args.repository.glob("*/model.toml")):
        folder = config_path.parent
        for name, url, expected in wanted(tomllib.loads(config_path.read_text())):
            target = folder / name
            try:
                print(f"{folder.name}/{name}: {fetch(target, url, expected, mirror)}")
            except OSError as exc:
                sys.exit(f"{folder.name}/{name}: could not fetch ({exc}); put the file there by hand")


if __name__ == "__main__":
    main()
