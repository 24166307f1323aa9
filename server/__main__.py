"""python -m server: run the gRPC segmentation server until SIGTERM or Ctrl-C; SIGHUP re-reads the models."""

from __future__ import annotations

import logging
import sys

from pydantic_settings import CliApp

from server.allocator import keep_freed_memory
from server.config import ServerSettings
from server.processes import run


def main() -> None:
    keep_freed_memory()
    settings = CliApp.run(ServerSettings)
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s")
    sys.exit(run(settings))


if __name__ == "__main__":
    main()
