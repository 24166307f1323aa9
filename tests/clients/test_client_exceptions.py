"""Each client exception knows its own status code, so nobody imports grpc to raise one."""

from __future__ import annotations

import grpc
import pytest

import segmentation_client as sc


@pytest.mark.parametrize("cls", [c for c in vars(sc).values() if isinstance(c, type) and issubclass(c, sc.ServiceError)])
def test_an_exception_made_without_a_code_has_its_own(cls: type[sc.ServiceError]):
    error = cls("something went wrong")
    assert error.code is cls.default_code
    # error_for, which translates a status at the boundary, picks this very class for that code.
    assert type(sc.error_for(cls.default_code, "x")) is cls


def test_the_live_paths_unavailable_reports_unavailable():
    # The Live tab and the webcam session raise it for a stream the server ended or a thread that failed.
    error = sc.Unavailable("live stream failed: connection reset", reason="SHUTTING_DOWN")
    assert (error.code, error.reason) == (grpc.StatusCode.UNAVAILABLE, "SHUTTING_DOWN")


def test_a_code_given_says_which_of_the_classes_codes_it_was():
    assert sc.Unauthenticated("no", grpc.StatusCode.PERMISSION_DENIED).code is grpc.StatusCode.PERMISSION_DENIED
    assert sc.error_for(grpc.StatusCode.OUT_OF_RANGE, "x").code is grpc.StatusCode.OUT_OF_RANGE
    assert type(sc.error_for(grpc.StatusCode.INTERNAL, "x")) is sc.ServiceError
