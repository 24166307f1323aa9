"""Loading one model folder: config, backend, the checks of the file against the config, warm-up.

Every failure is a `LoadError` whose message names the file and the field that are wrong, with paths
relative to the repository.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from pathlib import Path

import numpy as np

from server.backends import Backend, Resources, TensorInfo, open_backend
from server.config import ServerSettings
from server.model_config import ConfigError, ModelSpec, load_spec
from server.transforms import InputTransform, channel_axis, class_ids, single_plane

log = logging.getLogger(__name__)


class LoadError(Exception):
    """A model that cannot be served. `spec` is set when its config was valid (the listing still shows it)."""

    def __init__(self, message: str, spec: ModelSpec | None = None) -> None:
        super().__init__(message)
        self.spec = spec

    def __reduce__(self) -> tuple[type[LoadError], tuple[str, ModelSpec | None]]:
        # Pickled with its spec: a worker process's load failure reaches the serving process whole.
        return self.__class__, (str(self), self.spec)


class LoadedModel:
    """A model version ready to serve: its spec, backend and input transform.

    Calls hold it with `acquire`/`release`; once `retire`d (replaced or removed) it closes its
    backend when the last call holding it is done.
    """

    def __init__(self, spec: ModelSpec, backend: Backend, transform: InputTransform) -> None:
        self.spec = spec
        self.backend = backend
        self.transform = transform
        self._lock = threading.Lock()
        self._users = 0
        self._retired = False

    def class_ids(self, output: np.ndarray) -> np.ndarray:
        """One image's output (no batch axis) as a uint8 mask of class ids at the model's output size."""
        out = self.spec.config.output
        return class_ids(output, out.kind, len(self.spec.labels), out.threshold)

    def summary(self) -> str:
        inp = self.spec.config.input
        return (f"{self.spec.config.runtime} on {self.backend.device}, input {inp.width}x{inp.height} ({inp.resize}), "
                f"{len(self.spec.labels)} labels")

    def acquire(self) -> None:
        with self._lock:
            self._users += 1

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            close = self._retired and self._users == 0
        if close:
            self._close()

    def retire(self) -> None:
        with self._lock:
            if self._retired:
                return
            self._retired = True
            close = self._users == 0
        if close:
            self._close()

    def _close(self) -> None:
        try:
            self.backend.close()
        except Exception:  # a failed close must not take the server down
            log.exception("closing model %s failed", self.spec.id)
        log.info("model %s: version closed", self.spec.id)


def resources_for(spec: ModelSpec, settings: ServerSettings) -> Resources:
    serving = spec.config.serving
    device = serving.device if serving.device != "auto" else (settings.device or "auto")
    return Resources(serving.instances or settings.workers, serving.threads or settings.threads, device,
                     settings.download)


_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])/(?:[^\s/'\":]+/)+([^\s/'\":]+)")


def _short(exc: BaseException, folder: Path) -> str:
    """An exception's first line, without the server's paths, kept short.

    Paths inside the repository become relative to it; any other absolute path (a library's, say)
    is cut to its file name: clients never learn how the server's disk is laid out.
    """
    text = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
    for root in {str(folder.parent.resolve()), str(folder.parent)}:
        text = text.replace(root + "/", "")
    text = _ABSOLUTE_PATH.sub(r"\1", text)
    return text if len(text) <= 300 else text[:300] + "..."


def load_model(folder: Path, settings: ServerSettings, *, one_call_at_a_time: bool = False) -> LoadedModel:
    """Read, open, check and warm up the model in `folder`; raise LoadError saying what is wrong.

    `one_call_at_a_time`: for a worker process (server/workers.py), which runs one call at a time: one
    instance, and no dynamic batching (there are no concurrent calls to gather).
    """
    try:
        spec = load_spec(folder)
    except ConfigError as exc:
        raise LoadError(str(exc)) from None
    weights = f"{spec.id}/{spec.config.weights.file}" if spec.config.weights.file else f"{spec.id} (torchvision)"
    try:
        resources = resources_for(spec, settings)
        if one_call_at_a_time:
            resources = dataclasses.replace(resources, instances=1)
        backend = open_backend(spec, resources)
    except Exception as exc:  # noqa: BLE001 - runtimes raise all sorts for a bad file
        raise LoadError(f"{weights}: {spec.config.runtime} could not open it: {_short(exc, folder)}", spec) from None
    try:
        _check_input(spec, backend.input_info, weights)
        transform = InputTransform.for_spec(spec, backend.input_info.zero_point if backend.input_info else None)
        _warm_up(spec, backend, weights, folder)
    except Exception:
        backend.close()
        raise
    serving = spec.config.serving
    if serving.max_batch_size > 1 and serving.max_queue_delay_ms > 0 and one_call_at_a_time:
        log.warning("model %s: dynamic batching gathers the calls of one process's worker threads; worker "
                    "processes run one call at a time, so its calls are not batched (--worker-kind thread "
                    "batches them)", spec.id)
    elif serving.max_batch_size > 1 and serving.max_queue_delay_ms > 0:
        from server.backends.batching import DynamicBatcher

        backend = DynamicBatcher(backend, serving.max_batch_size, serving.max_queue_delay_ms / 1000)
    return LoadedModel(spec, backend, transform)


def _check_input(spec: ModelSpec, info: TensorInfo | None, weights: str) -> None:
    if info is None:
        return
    inp = spec.config.input
    expected = spec.input_shape(1)
    said = f"model.toml says {inp.width}x{inp.height}, layout {spec.layout}: {expected}"
    if len(info.shape) != 4:
        raise LoadError(f"{weights}: the model's input has shape {list(info.shape)}; an image input has 4 axes "
                        f"({said})", spec)
    for axis, (have, want) in enumerate(zip(info.shape, expected, strict=True)):
        if axis and have is not None and have != want:
            raise LoadError(f"{weights}: the model takes input {list(info.shape)}, but input.width/height/layout in "
                            f"{said}", spec)
    batch = spec.config.serving.max_batch_size
    if batch > 1 and spec.config.runtime != "litert" and info.shape[0] is not None:
        raise LoadError(f"{weights}: serving.max_batch_size is {batch}, but the model's batch axis is fixed at "
                        f"{info.shape[0]}; export it with a dynamic batch axis", spec)
    if info.dtype != inp.dtype:
        raise LoadError(f"{weights}: the model takes {info.dtype} input, but input.dtype in model.toml is "
                        f"{inp.dtype!r}", spec)


def _warm_up(spec: ModelSpec, backend: Backend, weights: str, folder: Path) -> None:
    """Run one zero image: it allocates and plans before any caller waits, and shows the output's shape."""
    shape, dtype = spec.input_shape(1), spec.config.input.dtype
    try:
        output = backend.run(np.zeros(shape, dtype))
    except Exception as exc:  # noqa: BLE001
        raise LoadError(f"{weights}: running it on a {list(shape)} {dtype} input (as model.toml's [input] says) "
                        f"failed: {_short(exc, folder)}", spec) from None
    out = spec.config.output
    n = len(spec.labels)
    if output.ndim < 3 or output.shape[0] != 1:
        raise LoadError(f"{weights}: output has shape {list(output.shape)}; expected a batch of one first", spec)
    try:
        if out.kind == "scores":
            if output.ndim != 4:
                raise ValueError("kind = 'scores' needs (N, classes, H, W) or (N, H, W, classes)")
            channel_axis(output.shape[1:], n)
        else:
            single_plane(output[0])
    except ValueError as exc:
        raise LoadError(f"{weights}: output has shape {list(output.shape)}, which does not fit output.kind = "
                        f"{out.kind!r} with {n} labels: {exc}", spec) from None
    if out.kind == "class_ids" and not np.issubdtype(output.dtype, np.integer):
        raise LoadError(f"{weights}: output is {output.dtype}; output.kind = 'class_ids' needs integers "
                        "(use 'scores' or 'probability')", spec)
    if out.kind != "class_ids" and not np.issubdtype(output.dtype, np.floating):
        raise LoadError(f"{weights}: output is {output.dtype}; output.kind = {out.kind!r} needs floats", spec)
    if spec.config.serving.max_batch_size > 1:
        # Batching sends several images in one call: the file must take them (a traced or exported model
        # may have its batch axis fixed at 1 without saying so).
        try:
            batched = backend.run(np.zeros(spec.input_shape(2), dtype))
        except Exception as exc:  # noqa: BLE001
            raise LoadError(f"{weights}: serving.max_batch_size is {spec.config.serving.max_batch_size}, but a "
                            f"batch of 2 fails: {_short(exc, folder)}", spec) from None
        if batched.shape[0] != 2:
            raise LoadError(f"{weights}: serving.max_batch_size is {spec.config.serving.max_batch_size}, but a "
                            f"batch of 2 gives output {list(batched.shape)}", spec)
