"""A model repository with broken models in it: each is listed with a reason naming the file and the field,
`check_repository` prints the same reasons, and the server serves the others. Then reloading on SIGHUP."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from segmentation_client import ModelNotFound, ModelUnavailable, SegmentationClient
from tests.support import DEFAULT_MODEL, MODEL_REPOSITORY, REPO, SAMPLES, link_model, wait_until_loaded

pytestmark = pytest.mark.server

SELFIE = "selfie-segmentation"
SELFIE_CONFIG = (MODEL_REPOSITORY / SELFIE / "model.toml").read_text()
SELFIE_WEIGHTS = MODEL_REPOSITORY / SELFIE / "selfie_segmentation.tflite"


def selfie_folder(repository: Path, model_id: str, config: str, weights: bytes | None = None) -> None:
    """A folder with the selfie model's weights (or `weights`) and the given config."""
    folder = repository / model_id
    folder.mkdir()
    target = folder / SELFIE_WEIGHTS.name
    if weights is None:
        target.symlink_to(SELFIE_WEIGHTS)
    else:
        target.write_bytes(weights)
    (folder / "model.toml").write_text(config)


# model id -> (how its folder differs from the working selfie model, what its reason must say)
BROKEN = {
    "unknown-key": (("[output]", "[output]\nthreshhold = 0.4"),
                    "unknown-key/model.toml: unknown key `output.threshhold`"),
    "out-of-range": (("threshold = 0.5", "threshold = 1.5"),
                     "out-of-range/model.toml: `output.threshold`: Input should be less than or equal to 1"),
    "bad-toml": (("[input]", "[input"), "bad-toml/model.toml is not valid TOML"),
    "no-runtime": (('runtime = "litert"\n', ""), "no-runtime/model.toml: `runtime` is missing"),
    "bad-runtime": (('runtime = "litert"', 'runtime = "tensorrt"'),
                    "bad-runtime/model.toml: `runtime`: Input should be"),
    "missing-weights": (('file = "selfie_segmentation.tflite"', 'file = "trained.tflite"'),
                        "missing-weights/trained.tflite (weights.file) not found"),
    "escaping-path": (('file = "selfie_segmentation.tflite"', 'file = "../deeplabv3-mobilenetv2-pascal/x.tflite"'),
                      "escaping-path/model.toml: `weights.file`: must be a file name inside the model's folder"),
    "wrong-sha256": (("sha256 = \"9ee1", "sha256 = \"0ee1"),
                     "wrong-sha256/selfie_segmentation.tflite: sha256 is 9ee168ec"),
    "wrong-input-size": (("height = 256", "height = 144"),
                         ("wrong-input-size/selfie_segmentation.tflite: the model takes input [1, 256, 256, 3], but "
                         "input.width/height/layout in model.toml says 256x144")),
    "wrong-dtype": (("scale = 0.00392156862745098\n", 'dtype = "uint8"\n'),
                    "wrong-dtype/selfie_segmentation.tflite: the model takes float32 input, but input.dtype"),
    "labels-vs-output": (('labels = ["background", "person"]', 'labels = ["a", "b", "c"]'),
                         "labels-vs-output/model.toml: kind = 'probability' needs two labels"),
    "scores-vs-output": (('kind = "probability"\nthreshold = 0.5', 'kind = "scores"'),
                         ("scores-vs-output/selfie_segmentation.tflite: output has shape [1, 256, 256, 1], which does "
                         "not fit output.kind = 'scores' with 2 labels")),
    "palette-length": (('labels = ["background", "person"]', ('labels = ["background", "person"]\n'
                        'palette = [[0, 0, 0]]')), "palette-length/model.toml: `palette` has 1 colours for 2 labels"),
    "missing-labels-file": (('labels = ["background", "person"]', 'labels_file = "classes.txt"'),
                            "missing-labels-file/classes.txt (labels_file) not found"),
}
GARBAGE = ("garbage-weights", "garbage-weights/selfie_segmentation.tflite: litert could not open it")


@pytest.fixture(scope="module")
def repository(tmp_path_factory) -> Path:
    repository = tmp_path_factory.mktemp("repository")
    link_model(repository, DEFAULT_MODEL)
    selfie_folder(repository, "working", SELFIE_CONFIG)
    for model_id, ((old, new), _) in BROKEN.items():
        assert old in SELFIE_CONFIG, model_id
        selfie_folder(repository, model_id, SELFIE_CONFIG.replace(old, new, 1))
    selfie_folder(repository, GARBAGE[0], SELFIE_CONFIG.replace("sha256", "# sha256"), weights=b"\0" * 1000)
    (repository / "not-a-model").mkdir()
    return repository


@pytest.fixture(scope="module")
def listed(start_server, repository):
    server = start_server("--model-repository", str(repository))
    with SegmentationClient(server.address) as client:
        yield client, wait_until_loaded(client)
    server.stop()


@pytest.mark.parametrize("model_id", [*BROKEN, GARBAGE[0]])
def test_broken_model_is_listed_with_the_file_and_field(listed, repository, model_id):
    client, models = listed
    expected = dict(BROKEN)[model_id][1] if model_id in BROKEN else GARBAGE[1]
    info = models[model_id]
    assert not info.available
    assert expected in info.unavailable_reason
    assert str(repository) not in info.unavailable_reason, "a server path reached the client"
    assert not re.search(r"(?:^|[\s'\"(])/[\w.-]+/", info.unavailable_reason), "an absolute path reached the client"
    with pytest.raises(ModelUnavailable) as error:
        client.segment(SAMPLES / "grace_hopper.bmp", model=model_id)
    assert expected in str(error.value)


def test_the_others_are_served(listed):
    client, models = listed
    assert models["working"].available and models[DEFAULT_MODEL].available
    assert "not-a-model" not in models
    assert (client.segment(SAMPLES / "grace_hopper.bmp", model="working").mask == 1).mean() > 0.4
    assert "cat" in client.segment(SAMPLES / "cat_720p.jpg").labels


def test_check_command_gives_the_same_reasons_and_fails(repository):
    done = subprocess.run([sys.executable, "-m", "server.check_repository", str(repository)], cwd=REPO,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = {line.split()[1].rstrip(":"): line for line in done.stdout.splitlines() if line.startswith(("ok", "FAIL"))}
    assert lines["working"].startswith("ok") and lines[DEFAULT_MODEL].startswith("ok")
    for model_id, (_, expected) in [*BROKEN.items(), (GARBAGE[0], (None, GARBAGE[1]))]:
        assert lines[model_id].startswith("FAILED") and expected in lines[model_id]
    assert "not-a-model/ has no model.toml" in done.stdout


def test_check_command_passes_on_the_built_in_repository():
    done = subprocess.run([sys.executable, "-m", "server.check_repository", "model_repository", "--no-download"],
                          cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    for model_id in (DEFAULT_MODEL, SELFIE, "selfie-segmentation-landscape", "deeplabv3-mobilenetv2-dm05-pascal"):
        assert f"ok       {model_id}: litert on cpu" in done.stdout, done.stdout


def test_reload_adds_changes_and_removes_models_while_calls_go_on(start_server, tmp_path):
    repository = tmp_path / "repository"
    repository.mkdir()
    link_model(repository, DEFAULT_MODEL)
    selfie_folder(repository, "mine", SELFIE_CONFIG)
    # Worker processes: each must load the new versions and close the old ones.
    server = start_server("--model-repository", str(repository), "--worker-kind", "process")
    errors: list[BaseException] = []
    calls = {"mine": 0, "health": 0}
    stop = threading.Event()

    def keep_calling() -> None:
        with SegmentationClient(server.address) as client:
            while not stop.is_set():
                try:
                    client.segment(SAMPLES / "grace_hopper.bmp", model="mine")
                    calls["mine"] += 1
                    assert client.health() == "SERVING"
                    calls["health"] += 1
                except BaseException as exc:  # noqa: BLE001 - every failure is reported below
                    errors.append(exc)

    def reload_until(check, what: str) -> None:
        server.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while not check({m.id: m for m in client.list_models()}):
            assert time.monotonic() < deadline, f"{what}: not seen after SIGHUP"
            time.sleep(0.05)

    with SegmentationClient(server.address) as client:
        wait_until_loaded(client)
        callers = [threading.Thread(target=keep_calling) for _ in range(2)]
        for caller in callers:
            caller.start()
        try:
            # Added: a second folder appears, loads and serves.
            selfie_folder(repository, "added", SELFIE_CONFIG)
            reload_until(lambda m: "added" in m and m["added"].available, "added model")
            assert (client.segment(SAMPLES / "grace_hopper.bmp", model="added").mask == 1).mean() > 0.4
            # Changed: a new config (here the description and threshold) replaces the old version.
            person_before = (client.segment(SAMPLES / "grace_hopper.bmp", model="mine").mask == 1).mean()
            (repository / "mine" / "model.toml").write_text(
                SELFIE_CONFIG.replace("threshold = 0.5", "threshold = 0.99").replace("MediaPipe", "Retrained"))
            reload_until(lambda m: m["mine"].description.startswith("Retrained") and m["mine"].available,
                         "changed model")
            # Served by the new version in every worker: a stricter threshold, a smaller person.
            for _ in range(4):
                assert (client.segment(SAMPLES / "grace_hopper.bmp", model="mine").mask == 1).mean() < person_before
            served_before = calls["mine"]
            # Removed: the folder goes, and so does the model.
            shutil.rmtree(repository / "added")
            reload_until(lambda m: "added" not in m, "removed model")
            with pytest.raises(ModelNotFound):
                client.segment(SAMPLES / "grace_hopper.bmp", model="added")
            time.sleep(0.5)
        finally:
            stop.set()
            for caller in callers:
                caller.join(60)
    assert not errors, f"calls failed during reloads: {errors[:3]}"
    assert calls["mine"] > served_before > 0 and calls["health"] == calls["mine"]
    log = server.log()
    assert "added ['added']" in log and "changed ['mine']" in log and "removed ['added']" in log
    # Each worker process closed the replaced version and the removed model once their calls were done.
    for model in ("mine", "added"):
        assert set(re.findall(rf"(worker-\d) server\.loading: model {model}: version closed", log)) == \
            {"worker-1", "worker-2"}, model
    assert server.stop() == 0


def test_a_broken_change_makes_the_model_unavailable_with_the_reason(start_server, tmp_path):
    repository = tmp_path / "repository"
    repository.mkdir()
    link_model(repository, DEFAULT_MODEL)
    selfie_folder(repository, "mine", SELFIE_CONFIG)
    server = start_server("--model-repository", str(repository), "--repository-poll-seconds", "0.2")
    with SegmentationClient(server.address) as client:
        wait_until_loaded(client)
        # Written aside and renamed into place, as the docs advise, so the poll never sees half a file.
        (repository / "mine" / "model.toml.new").write_text(SELFIE_CONFIG.replace("width = 256", "width = 0"))
        os.replace(repository / "mine" / "model.toml.new", repository / "mine" / "model.toml")
        deadline = time.monotonic() + 30
        while client.get_model("mine").available:
            assert time.monotonic() < deadline, "the poll did not see the change"
            time.sleep(0.05)
        reason = client.get_model("mine").unavailable_reason
        assert "mine/model.toml: `input.width`: Input should be greater than or equal to 1" in reason
        with pytest.raises(ModelUnavailable, match="input.width"):
            client.segment(SAMPLES / "grace_hopper.bmp", model="mine")
        assert "cat" in client.segment(SAMPLES / "cat_720p.jpg").labels
    server.stop()


def test_health_follows_the_default_model_across_reloads(start_server, tmp_path):
    repository = tmp_path / "repository"
    repository.mkdir()
    link_model(repository, DEFAULT_MODEL)
    server = start_server("--model-repository", str(repository))

    def health_after_sighup(expected: str) -> None:
        server.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while client.health() != expected:
            assert time.monotonic() < deadline, f"health did not become {expected}"
            time.sleep(0.05)

    with SegmentationClient(server.address) as client:
        shutil.move(repository / DEFAULT_MODEL, tmp_path / "aside")
        health_after_sighup("NOT_SERVING")
        shutil.move(tmp_path / "aside", repository / DEFAULT_MODEL)
        health_after_sighup("SERVING")
        assert "cat" in client.segment(SAMPLES / "cat_720p.jpg").labels
    assert server.stop() == 0
