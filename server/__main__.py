"""python -m server: run the gRPC segmentation server until SIGTERM or Ctrl-C; SIGHUP re-reads the models."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from pydantic_settings import CliApp

from server.app import DefaultModelUnavailable, create_service
from server.config import ServerSettings

log = logging.getLogger("server")


async def serve(settings: ServerSettings) -> int:
    service = create_service(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await service.start()
    except DefaultModelUnavailable as exc:
        log.error("%s", exc)
        await service.stop(0)
        return 1
    reloads: set[asyncio.Task] = set()

    def reload() -> None:
        log.info("SIGHUP: re-reading the model repositories")
        task = asyncio.create_task(service.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, reload)
    await stop.wait()
    log.info("shutting down; calls in flight have %.1f s to finish", settings.grace_seconds)
    await service.stop()
    log.info("stopped")
    return 0


def main() -> None:
    settings = CliApp.run(ServerSettings)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.exit(asyncio.run(serve(settings)))


if __name__ == "__main__":
    main()
