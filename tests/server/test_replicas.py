"""Two replicas behind the client's round-robin: kill or stop one while clients call; every call still succeeds."""

from __future__ import annotations

import signal
import threading

import pytest

from segmentation_client import SegmentationClient
from tests.support import SAMPLES, wait_for

pytestmark = pytest.mark.server


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_calls_survive_a_replica_going_away(start_server, sig):
    replicas = [start_server() for _ in range(2)]
    image = (SAMPLES / "cat_720p.jpg").read_bytes()
    results: list[list[str]] = []
    errors: list[Exception] = []
    stop = threading.Event()

    def caller(client: SegmentationClient) -> None:
        while not stop.is_set():
            try:
                results.append(client.segment(image).labels)
            except Exception as exc:  # noqa: BLE001 - any failure is what the test counts
                errors.append(exc)

    with SegmentationClient([r.address for r in replicas], timeout=30) as client:
        threads = [threading.Thread(target=caller, args=(client,)) for _ in range(4)]
        for t in threads:
            t.start()
        wait_for(lambda: len(results) >= 8, "calls to both replicas")
        before = len(results)
        replicas[0].stop(sig)
        # Enough calls after the stop that the client must have met the gone replica and moved on.
        wait_for(lambda: len(results) >= before + 16 or errors, "calls after the replica went away")
        stop.set()
        for t in threads:
            t.join(60)
    assert not errors, f"{len(errors)} calls failed, first: {errors[0]!r}"
    assert before > 0 and len(results) > before, "calls went on after the kill"
    assert all(labels[:2] in (["background", "cat"], ["cat", "background"]) for labels in results)
    replicas[1].stop()
