"""The model registry: the models of the repositories, their states, loading and reloading.

A model is a folder of a repository (server/repository.py); loading one reads its config, opens
its backend, checks the file against the config and warms it up (server/loading.py). On a reload,
a changed model keeps serving its old version until the new one is ready; calls in flight finish
on the version they started with, which is closed once the last of them is done.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from server.config import ServerSettings
from server.errors import ModelLoading, ModelUnavailable, UnknownModel
from server.loading import LoadedModel, load_model
from server.model_config import ModelSpec
from server.repository import Fingerprint, scan

log = logging.getLogger(__name__)


class State(enum.Enum):
    LOADING = "loading"
    READY = "ready"
    UNAVAILABLE = "unavailable"


@dataclass
class Model:
    """One model of the repositories as the server sees it now.

    `loaded` is the version that serves calls; during a reload it is the old version, READY, while
    the folder's new contents load.
    """

    id: str
    folder: Path
    fingerprint: Fingerprint
    state: State = State.LOADING
    reason: str = ""
    spec: ModelSpec | None = None
    loaded: LoadedModel | None = None
    reloading: bool = False


@dataclass(frozen=True)
class Changes:
    """What a rescan found; `to_load` lists the ids to load now, new and changed ones."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def to_load(self) -> list[str]:
        return [*self.added, *self.changed]


class ModelRegistry:
    """The models of the configured repositories; answers which version serves a request."""

    def __init__(self, settings: ServerSettings, loader: Callable[[Path], LoadedModel] | None = None) -> None:
        """`loader` loads a model folder (default: in this process; server/workers.py loads in worker processes)."""
        self._settings = settings
        self._loader = loader or (lambda folder: load_model(folder, settings))
        self._lock = threading.Lock()
        self._closed = False
        self._rescanning = threading.Lock()
        self._models: dict[str, Model] = {}
        found = self._scan()
        if settings.models:
            unknown = [i for i in settings.models if i not in found]
            if unknown:
                raise ValueError(f"model id(s) {unknown} are not in the repositories; found: {sorted(found)}")
        if settings.default_model not in found:
            raise ValueError(
                f"default model {settings.default_model!r} is not in the repositories "
                f"{[str(r) for r in settings.model_repository]}; found: {sorted(found)}"
            )
        # The default first, then the order the settings name them in, else the repositories' order.
        order = [settings.default_model, *settings.models, *found]
        for model_id in dict.fromkeys(order):
            folder, fingerprint = found[model_id]
            self._models[model_id] = Model(model_id, folder, fingerprint)

    @property
    def default_id(self) -> str:
        return self._settings.default_model

    def _scan(self) -> dict[str, tuple[Path, Fingerprint]]:
        result = scan(self._settings.model_repository)
        for problem in result.problems:
            log.warning("model repository: %s", problem)
        wanted = set(self._settings.models) | {self._settings.default_model} if self._settings.models else None
        return {i: v for i, v in result.models.items() if wanted is None or i in wanted}

    def models(self) -> list[Model]:
        with self._lock:
            return list(self._models.values())

    @contextmanager
    def lease(self, model_id: str) -> Iterator[LoadedModel]:
        """The version of a model ("" is the default) that serves this call; it stays open until the call ends."""
        with self._lock:
            loaded = self._ready(model_id or self.default_id).loaded
            assert loaded is not None  # _ready returns READY models only, which hold their loaded version
            loaded.acquire()
        try:
            yield loaded
        finally:
            loaded.release()

    def _ready(self, model_id: str) -> Model:
        model = self._models.get(model_id)
        if model is None:
            # The id is the caller's text: cut it short so the status message stays small.
            shown = model_id if len(model_id) <= 100 else model_id[:100] + "..."
            raise UnknownModel(f"unknown model {shown!r}; known models: {', '.join(self._models)}")
        if model.loaded is not None:
            return model
        if model.state is State.LOADING:
            raise ModelLoading(f"model {model_id} is still loading; try again shortly")
        raise ModelUnavailable(f"model {model_id} is unavailable: {model.reason}")

    def load(self, model_id: str) -> Model | None:
        """Load the folder's current contents (blocking); on failure mark the model unavailable with the reason.

        None when the model left the repositories before its turn came.
        """
        with self._lock:
            model = self._models.get(model_id)
            if model is None or self._closed:
                return None
            folder, fingerprint = model.folder, model.fingerprint
        try:
            loaded, error = self._loader(folder), None
        except Exception as exc:  # noqa: BLE001 - every failure becomes the model's reason
            loaded, error = None, exc
        with self._lock:
            current = self._models.get(model_id)
            if self._closed or current is not model or current.fingerprint != fingerprint:
                # Shut down, or removed or changed again while loading: the newer scan's load decides.
                if loaded is not None:
                    loaded.retire()
                return model
            old = model.loaded
            model.reloading = False
            if loaded is None:
                model.state, model.reason, model.loaded = State.UNAVAILABLE, str(error), None
                model.spec = getattr(error, "spec", None)
            else:
                model.state, model.reason, model.loaded, model.spec = State.READY, "", loaded, loaded.spec
        if old is not None:
            old.retire()
        if loaded is None:
            log.warning("model %s unavailable: %s", model_id, error)
        else:
            log.info("model %s ready: %s", model_id, loaded.summary())
        return model

    def rescan(self) -> Changes:
        """Compare the repositories with what is loaded: note added, changed and removed models.

        Removed models leave the listing at once (their calls in flight finish); the caller loads
        `to_load`, during which changed models keep serving their old version.
        """
        with self._rescanning:  # one rescan at a time, so an older scan never lands after a newer one
            return self._rescan()

    def _rescan(self) -> Changes:
        found = self._scan()
        changes = Changes()
        retired: list[LoadedModel] = []
        with self._lock:
            for model_id in [i for i in self._models if i not in found]:
                removed = self._models.pop(model_id)
                changes.removed.append(model_id)
                if removed.loaded is not None:
                    retired.append(removed.loaded)
            for model_id, (folder, fingerprint) in found.items():
                model = self._models.get(model_id)
                if model is None:
                    self._models[model_id] = Model(model_id, folder, fingerprint)
                    changes.added.append(model_id)
                elif (model.folder, model.fingerprint) != (folder, fingerprint):
                    model.folder, model.fingerprint, model.reloading = folder, fingerprint, True
                    if model.loaded is None:
                        model.state, model.reason = State.LOADING, ""
                    changes.changed.append(model_id)
        for loaded in retired:
            loaded.retire()
        if changes.to_load or changes.removed:
            log.info("model repository changed: added %s, changed %s, removed %s",
                     changes.added or "none", changes.changed or "none", changes.removed or "none")
        return changes

    def close(self) -> None:
        """Retire every loaded model: each closes once its calls in flight are done; nothing loads after this."""
        with self._lock:
            self._closed = True
            loaded = [m.loaded for m in self._models.values() if m.loaded is not None]
        for version in loaded:
            version.retire()
