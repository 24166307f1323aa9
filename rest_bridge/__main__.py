"""python -m rest_bridge: serve the REST bridge with uvicorn until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging

import uvicorn
from pydantic_settings import CliApp

from rest_bridge.app import create_app
from rest_bridge.config import BridgeSettings


def main() -> None:
    settings = CliApp.run(BridgeSettings)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        # A WebSocket frame is an upload too; uvicorn closes with 1009 past this.
        ws_max_size=settings.upload_limit_bytes,
    )


if __name__ == "__main__":
    main()
