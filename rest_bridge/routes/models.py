"""GET /v1/models and /v1/models/{model_id}: what the gRPC server can run."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from rest_bridge.deps import ClientDep, PalettesDep
from rest_bridge.errors import error_responses
from rest_bridge.schemas import ModelList, ModelOut
from segmentation_client import ModelInfo, ModelNotFound

router = APIRouter(prefix="/v1/models", tags=["models"])


def model_out(info: ModelInfo) -> ModelOut:
    return ModelOut(
        id=info.id, runtime=info.runtime, labels=info.labels, available=info.available,
        unavailable_reason=info.unavailable_reason, input_width=info.input_size[0], input_height=info.input_size[1],
        device=info.device, palette=info.palette.tolist(), description=info.description, is_default=info.is_default,
        licence=info.licence, source=info.source, soft_mask=info.soft_mask,
    )


@router.get("", summary="List the models", response_model=ModelList, responses=error_responses(401, 502, 503, 504))
async def list_models(client: ClientDep, palettes: PalettesDep) -> ModelList:
    """Every model the gRPC server knows, available or not, with labels and palette."""
    infos = await client.list_models()
    palettes.update(infos)
    default = next((info.id for info in infos if info.is_default), "")
    return ModelList(models=[model_out(info) for info in infos], default_model=default)


@router.get("/{model_id}", summary="Describe one model", response_model=ModelOut,
            responses=error_responses(401, 404, 422, 502, 503, 504))
async def get_model(
    model_id: Annotated[str, Path(description="Model id, e.g. deeplabv3-mobilenetv2-pascal.")],
    client: ClientDep, palettes: PalettesDep,
) -> ModelOut:
    """One model's labels, palette, input size and availability; 404 for an id the server does not know."""
    infos = await client.list_models()
    palettes.update(infos)
    for info in infos:
        if info.id == model_id:
            return model_out(info)
    known = ", ".join(info.id for info in infos)
    raise ModelNotFound(f"unknown model {model_id!r}; known models: {known}")
