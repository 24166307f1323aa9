"""python -m server.check_repository DIR [DIR ...]: load every model of the repositories as the server would.

Each model's config is read and validated, its files checked (sha256 included), its backend opened
and run once on the input its config describes. Prints one line a model and exits 1 when any model
cannot be served, with the same reasons the server would list, so a model can be checked in CI
before it is deployed.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from server.config import ServerSettings
from server.loading import LoadError, load_model
from server.repository import scan


def check(repositories: list[Path], download: bool) -> int:
    settings = ServerSettings(model_repository=repositories, workers=1, threads=1, download=download,
                              metrics_port=None)
    result = scan(repositories)
    failed = len(result.problems)
    for problem in result.problems:
        print(f"problem  {problem}")
    for model_id, (folder, _) in result.models.items():
        try:
            loaded = load_model(folder, settings)
        except LoadError as exc:
            failed += 1
            print(f"FAILED   {model_id}: {exc}")
            continue
        print(f"ok       {model_id}: {loaded.summary()}")
        loaded.retire()
    if not result.models and not result.problems:
        print("no models found (a model is a folder holding a model.toml)")
        return 1
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m server.check_repository", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("repositories", type=Path, nargs="+", metavar="DIR")
    parser.add_argument("--no-download", dest="download", action="store_false",
                        help="torchvision models: do not download official weights missing from the hub cache")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(check(args.repositories, args.download))


if __name__ == "__main__":
    main()
