"""Dependencies of the routes, as Annotated aliases: `client: ClientDep` and so on."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from rest_bridge.config import BridgeSettings
from rest_bridge.state import Bridge, PaletteCache
from rest_bridge.upload import Upload, read_image
from segmentation_client import AsyncSegmentationClient


# The getters are `async def`: FastAPI runs a plain `def` dependency in its thread pool, a thread hop
# each for a getter that only reads an attribute (with a 4 ms model, py-spy showed the hops as a sixth
# of the bridge's CPU; about 0.7 ms of bridge CPU per request on this 2-core machine).
async def get_bridge(connection: HTTPConnection) -> Bridge:
    # Lifespan state: put there by app.lifespan, copied into every request and WebSocket scope.
    return connection.state.bridge


BridgeDep = Annotated[Bridge, Depends(get_bridge)]


async def get_client(bridge: BridgeDep) -> AsyncSegmentationClient:
    return bridge.next_client()


async def get_palettes(bridge: BridgeDep) -> PaletteCache:
    return bridge.palettes


async def get_settings(bridge: BridgeDep) -> BridgeSettings:
    return bridge.settings


ClientDep = Annotated[AsyncSegmentationClient, Depends(get_client)]
PalettesDep = Annotated[PaletteCache, Depends(get_palettes)]
SettingsDep = Annotated[BridgeSettings, Depends(get_settings)]
ImageDep = Annotated[Upload, Depends(read_image)]
