"""Optional bearer-token authentication of the bridge's callers (off unless a token is set).

Health and readiness stay open so probes need no secret. Browsers cannot set
headers on a WebSocket, so the stream also takes the token as `?access_token=`.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, WebSocket
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from rest_bridge.errors import Unauthorized

_bearer = HTTPBearer(auto_error=False, description="Needed when the bridge runs with an auth token.")


def _matches(connection: HTTPConnection, given: str | None) -> bool:
    expected = connection.app.state.settings.auth_token
    if expected is None:
        return True
    # Compared in constant time, so the answer's timing says nothing about the token.
    return hmac.compare_digest((given or "").encode(), expected.get_secret_value().encode())


def require_token(
    connection: HTTPConnection, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    if not _matches(connection, credentials.credentials if credentials else None):
        raise Unauthorized("missing or wrong bearer token in the Authorization header")


def websocket_token_ok(websocket: WebSocket) -> bool:
    header = websocket.headers.get("authorization", "")
    given = header[7:] if header.lower().startswith("bearer ") else websocket.query_params.get("access_token")
    return _matches(websocket, given)
