"""The old name of segmentation_client/_channels.py, which builds the channels; kept only so that
tests/test_deploy.py (maintained on another branch) still imports it. Import _channels instead."""

from segmentation_client._channels import SERVICE_CONFIG, grpc_target

__all__ = ["SERVICE_CONFIG", "grpc_target"]
