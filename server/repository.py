"""Model repositories: folders with one sub-folder per model, the sub-folder's name being the model's id.

Scanning only lists folders and fingerprints their files (names, sizes, modification times), so it
is cheap enough to poll; reading and checking a model's config happens when it is loaded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from server.model_config import CONFIG_FILE

Fingerprint = tuple[tuple[str, int, int], ...]


@dataclass
class ScanResult:
    models: dict[str, tuple[Path, Fingerprint]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def fingerprint(folder: Path) -> Fingerprint:
    """Every file of the folder with its size and modification time: changes when any of them does."""
    entries = []
    for path in sorted(folder.rglob("*")):
        try:
            if path.is_file():
                stat = path.stat()
                entries.append((path.relative_to(folder).as_posix(), stat.st_size, stat.st_mtime_ns))
        except OSError:  # removed while we looked: the next scan sees the folder as it is then
            continue
    return tuple(entries)


def scan(repositories: Iterable[Path]) -> ScanResult:
    """The model folders (those holding a model.toml) of the repositories, in order.

    An id found in two repositories is served from the first; the second is reported as a problem.
    """
    result = ScanResult()
    for number, repository in enumerate(repositories, 1):
        name = f"repository {number} ({repository.name or repository})"
        if not repository.is_dir():
            result.problems.append(f"{name} is not a folder")
            continue
        for folder in sorted(p for p in repository.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if not (folder / CONFIG_FILE).is_file():
                result.problems.append(f"{name}: {folder.name}/ has no {CONFIG_FILE}; not a model")
                continue
            if folder.name in result.models:
                result.problems.append(f"{name}: {folder.name} is also in an earlier repository, which serves it")
                continue
            result.models[folder.name] = (folder, fingerprint(folder))
    return result
