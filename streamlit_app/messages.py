"""Plain-language explanations of the client's errors: one table, no stack traces on the page."""

from __future__ import annotations

from segmentation_client import (
    DeadlineExceeded,
    InvalidInput,
    ModelNotFound,
    ModelUnavailable,
    Overloaded,
    ServiceError,
    Unauthenticated,
    Unavailable,
)

UNREACHABLE = (
    "Cannot reach the segmentation server at {target}. Is it running? Start it with `make run`, "
    "or point the UI at it with the UI_GRPC_TARGET environment variable."
)
LOADING = "The server at {target} is up but the model is still loading. Try again in a few seconds."
SHUTTING_DOWN = (
    "The server at {target} is shutting down. Try again in a moment: another replica, or this one "
    "restarted, will answer."
)

# What to tell the person for each kind of failure; {message} is the server's own words.
_EXPLANATIONS: dict[type[ServiceError], str] = {
    DeadlineExceeded: (
        "The server at {target} did not answer within {deadline:g} s. It may be busy, or the model slow "
        "on this machine: try a faster model or a smaller image, or raise UI_GRPC_TIMEOUT_SECONDS."
    ),
    Overloaded: "The server is at its limit ({message}). Wait a moment and try again, or use a smaller file.",
    InvalidInput: "The server could not use this input: {message}",
    ModelNotFound: "The server does not know this model ({message}). Pick another one in the sidebar.",
    ModelUnavailable: "This model cannot run on the server: {message}. Pick another one in the sidebar.",
    Unauthenticated: "The server refused the request ({message}). Check the credentials it expects.",
}


def explain(exc: ServiceError, target: str, deadline_s: float) -> str:
    """One paragraph saying what went wrong and what to check."""
    if isinstance(exc, Unavailable):
        # UNAVAILABLE is also what a server says while a model loads or it drains; the reason tells them apart.
        template = {"MODEL_LOADING": LOADING, "SHUTTING_DOWN": SHUTTING_DOWN}.get(exc.reason, UNREACHABLE)
    else:
        template = _EXPLANATIONS.get(type(exc), "The request failed ({code}): {message}")
    return template.format(target=target, deadline=deadline_s, message=exc.message, code=exc.code.name)


def is_unreachable(exc: ServiceError) -> bool:
    """Whether the error means the connection itself is gone (so a fresh channel is worth trying)."""
    return isinstance(exc, Unavailable) and exc.reason != "MODEL_LOADING"
