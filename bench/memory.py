"""python -m bench.memory: the server's memory with every model of the built-in repository (or `--models`) loaded.

For each `--processes` value (P, or P:thread / P:process to set `--worker-kind`), starts `python -m server`
on the built-in repository, waits until no process is still loading a model, and reports the resident memory
(RSS) and the proportional set size (PSS: pages shared between processes counted once, split between them)
of every process of the server (supervisor, serving processes, worker processes), summed, as the operating
system sees them.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import psutil

from bench import services
from segmentation_client import SegmentationClient

MIB = 1024 * 1024


def _loaded(address: str, processes: int) -> bool:
    """Whether no process still loads a model: asked on several connections, so each process answers."""
    for _ in range(4 * processes):
        with SegmentationClient(address, timeout=10) as client:
            if any(m.unavailable_reason == "loading" for m in client.list_models()):
                return False
    return True


def _pss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


def measure(server: str, models: str | None = None) -> dict[str, float]:
    count, _, kind = server.partition(":")
    processes = int(count)
    flags = [*(["--models", models] if models else []), *(["--worker-kind", kind] if kind else [])]
    with services.grpc_server("--processes", count, *flags) as (proc, address):
        while not _loaded(address, processes):
            time.sleep(1)
        time.sleep(2)  # let the allocators settle after the last warm-up
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        return {"rss_mib": sum(p.memory_info().rss for p in tree) / MIB,
                "pss_mib": sum(_pss(p.pid) for p in tree) / MIB}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--processes", type=lambda s: s.split(","), default=["1:thread", "1:process", "2:process"],
                        help="comma-separated; P:thread or P:process sets the worker kind")
    parser.add_argument("--models", help="comma-separated model ids (default: every model of the repository)")
    args = parser.parse_args()
    print("| --processes[:--worker-kind] | RSS MiB (sum) | PSS MiB (sum) |\n|---|---:|---:|")
    for server in args.processes:
        found = measure(server, args.models)
        print(f"| {server} | {found['rss_mib']:.0f} | {found['pss_mib']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
