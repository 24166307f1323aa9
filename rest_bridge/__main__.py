"""python -m rest_bridge: serve the REST bridge with uvicorn until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging

import uvicorn
from pydantic_settings import CliApp

from rest_bridge.app import create_app
from rest_bridge.config import BridgeSettings
from rest_bridge.serving import uvicorn_config


def main() -> None:
    settings = CliApp.run(BridgeSettings)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.Server(uvicorn_config(create_app(settings), settings)).run()


if __name__ == "__main__":
    main()
