"""GET /healthz (the bridge runs) and GET /readyz (the gRPC server behind it serves)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from rest_bridge.deps import ClientDep, SettingsDep
from rest_bridge.schemas import Health, Readiness
from segmentation_client import ServiceError

router = APIRouter(tags=["health"])

_NOT_READY = {
    "model": Readiness,
    "description": "The gRPC server is not SERVING, or cannot be reached within the readiness timeout.",
    "content": {"application/json": {"example": {"status": "UNREACHABLE",
                                                 "detail": "failed to connect to all addresses"}}},
    "headers": {"Retry-After": {"description": "Seconds to wait before asking again.", "required": True,
                                "schema": {"type": "string", "pattern": "^[0-9]+$"}}},
}


@router.get("/healthz", summary="Liveness", response_model=Health)
async def healthz() -> Health:
    """200 while the bridge process answers; it does not look at the gRPC server."""
    return Health(status="ok")


@router.get("/readyz", summary="Readiness", response_model=Readiness, responses={503: _NOT_READY})
async def readyz(client: ClientDep, settings: SettingsDep) -> Readiness | JSONResponse:
    """200 only while the gRPC server's health check says SERVING; 503 otherwise, unreachable included."""
    try:
        status, detail = await client.health(timeout=settings.readiness_timeout_seconds), ""
    except ServiceError as exc:
        status, detail = "UNREACHABLE", exc.message
    if status == "SERVING":
        return Readiness(status=status)
    body = Readiness(status=status, detail=detail or f"gRPC health is {status}")
    return JSONResponse(body.model_dump(), 503, headers={"Retry-After": str(settings.retry_after_seconds)})
