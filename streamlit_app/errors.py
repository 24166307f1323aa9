"""Showing a failed call on the page: what failed, what to check, and the server's words; never a trace."""

from __future__ import annotations

import logging

import streamlit as st

from segmentation_client import ServiceError
from streamlit_app import state
from streamlit_app.config import UISettings
from streamlit_app.messages import explain, is_unreachable

log = logging.getLogger(__name__)


def show_service_error(what: str, exc: ServiceError, settings: UISettings) -> None:
    """An error box for a failed call; a lost connection also drops the cached channel."""
    log.warning("%s failed: %s %s", what, exc.code.name, exc.message)
    if is_unreachable(exc):
        # gRPC would reconnect by itself, but only after its backoff; a fresh channel
        # lets the very next rerun succeed once the server is back.
        state.forget_client(settings.grpc.target, settings.grpc.timeout_seconds)
    st.error(f"**{what} failed.** {explain(exc, settings.grpc.target, settings.grpc.timeout_seconds)}", icon=":material/error:")
    st.caption(f"Details from gRPC ({exc.code.name}): {exc.message}")
