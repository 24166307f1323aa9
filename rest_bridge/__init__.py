"""REST and WebSocket bridge to the segmentation service: `python -m rest_bridge`.

    from rest_bridge import BridgeSettings, create_app
    app = create_app(BridgeSettings(grpc={"target": "127.0.0.1:50051"}))
"""

from rest_bridge.app import create_app
from rest_bridge.config import BridgeSettings

__all__ = ["BridgeSettings", "create_app"]
