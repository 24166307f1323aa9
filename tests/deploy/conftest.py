"""Fixtures of tests/deploy/: the images, built once a session with `make images` as a user builds them."""

from __future__ import annotations

import pytest

from tests.deploy.engine import ENGINE, NO_ENGINE, make


@pytest.fixture(scope="session")
def images(tmp_path_factory) -> None:
    """Build every image of the stack (cached layers make a second session's build take seconds)."""
    if ENGINE is None:
        pytest.skip(NO_ENGINE)
    make("images", tmp_path_factory.mktemp("images") / "make-images.log", timeout=1500)
