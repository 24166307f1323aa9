"""What the routes share for the application's lifetime: settings, the gRPC client, the palette cache."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from rest_bridge.config import BridgeSettings
from segmentation_client import AsyncSegmentationClient, ModelInfo

log = logging.getLogger(__name__)


class PaletteCache:
    """Class colours by model id, fetched with ListModels on first need and then kept.

    A model's palette is fixed for the life of the server, so `color`, `overlay`
    and `json` answers need not call ListModels each time. Models that report no
    palette yet (still loading) are not cached and are asked for again.
    """

    def __init__(self, client: AsyncSegmentationClient) -> None:
        self._client = client
        self._palettes: dict[str, np.ndarray] = {}
        self._infos: dict[str, ModelInfo] = {}
        self._default = ""
        self._lock = asyncio.Lock()

    def update(self, infos: list[ModelInfo]) -> None:
        for info in infos:
            if len(info.palette):
                self._palettes[info.id] = info.palette
                self._infos[info.id] = info
            if info.is_default:
                self._default = info.id

    async def info(self, model_id: str | None) -> ModelInfo | None:
        """A model's info (labels, soft mask) by id, None or "" for the default; None when not listed (yet)."""
        if model_id not in self._infos and (model_id or not self._default):
            async with self._lock:
                self.update(await self._client.list_models())
        return self._infos.get(model_id or self._default)

    async def get(self, model_id: str) -> np.ndarray:
        """The (n_classes, 3) RGB palette of a model; black for a model the server does not list."""
        palette = self._palettes.get(model_id)
        if palette is not None:
            return palette
        # One ListModels for a burst of first requests, not one each.
        async with self._lock:
            if model_id not in self._palettes:
                self.update(await self._client.list_models())
        palette = self._palettes.get(model_id)
        if palette is None:
            log.warning("model %s has no palette in ListModels; drawing it black", model_id)
            return np.zeros((256, 3), np.uint8)
        return palette


@dataclass(frozen=True)
class Bridge:
    """The resources of one running bridge, opened in the app's lifespan and closed with it."""

    settings: BridgeSettings
    client: AsyncSegmentationClient
    palettes: PaletteCache
    clients: tuple[AsyncSegmentationClient, ...] = ()  # each its own connection; `client` is one of them
    _turns: Iterator[AsyncSegmentationClient] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_turns", itertools.cycle(self.clients or (self.client,)))

    def next_client(self) -> AsyncSegmentationClient:
        """The client (connection) for the next call or stream: each in turn."""
        return next(self._turns)
