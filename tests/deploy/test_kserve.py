"""deploy/kserve/: the InferenceService that runs the server under KServe, checked offline.

KServe's CRD schema is not vendored here, so the InferenceService is checked by structure: the fields a
custom v2 predictor needs, and everything it names against the code. Its container and volumes, which are
plain Kubernetes objects, are validated against the Kubernetes schemas (kubernetes-validate) as a Pod.
"""

from __future__ import annotations

import json

import pytest
import yaml
from kubernetes_validate import utils

from server.config import ServerSettings
from tests.support import REPO

pytestmark = pytest.mark.deploy

MANIFEST = REPO / "deploy" / "kserve" / "inference-service.yaml"
K8S_VERSIONS = ("1.30.0", "1.37.0")


@pytest.fixture(scope="module")
def service() -> dict:
    (doc,) = list(yaml.safe_load_all(MANIFEST.read_text()))
    return doc


def _container(service: dict) -> dict:
    (container,) = service["spec"]["predictor"]["containers"]
    return container


def _env(service: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in _container(service)["env"]}


def test_a_custom_v2_predictor(service):
    assert service["apiVersion"] == "serving.kserve.io/v1beta1" and service["kind"] == "InferenceService"
    predictor = service["spec"]["predictor"]
    assert predictor["protocolVersion"] == "v2"
    assert 1 <= predictor["minReplicas"] <= predictor["maxReplicas"]
    container = _container(service)
    # KServe names the predictor's one serving container kserve-container.
    assert container["name"] == "kserve-container"
    (port,) = container["ports"]  # Knative routes to exactly one port
    assert port["name"] == "h2c", "gRPC needs HTTP/2 cleartext: Knative takes the port name h2c for it"
    assert container["readinessProbe"]["grpc"]["port"] == port["containerPort"]


def test_the_container_is_the_server_as_deployed(service):
    deployment = next(d for d in yaml.safe_load_all((REPO / "deploy/k8s/server.yaml").read_text())
                      if d["kind"] == "Deployment")
    server = deployment["spec"]["template"]["spec"]["containers"][0]
    container = _container(service)
    assert container["image"] == server["image"] and container["command"] == server["command"] == [
        "python", "-m", "server"]


def test_environment_is_server_settings(service, monkeypatch):
    env = _env(service)
    fields = {"SEGMENTATION_" + name.upper() for name in ServerSettings.model_fields}
    assert set(env) <= fields, set(env) - fields
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = ServerSettings()  # every value must parse
    assert settings.port == _container(service)["ports"][0]["containerPort"]
    assert settings.host == "0.0.0.0"
    for model_id in settings.models:
        assert (REPO / "model_repository" / model_id / "model.toml").is_file(), model_id
    metrics_port = service["metadata"]["annotations"]["prometheus.io/port"]
    assert settings.metrics_port == int(metrics_port)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_container_follows_the_kubernetes_schema(service, version):
    predictor = service["spec"]["predictor"]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "predictor"},
           "spec": {"containers": predictor["containers"], "volumes": predictor.get("volumes", [])}}
    utils.validate(pod, version, strict=True)
    broken = json.loads(json.dumps(pod))
    broken["spec"]["containers"][0]["readinessProbe"]["grpc"]["port"] = "h2c"  # a gRPC probe takes a number
    with pytest.raises(utils.ValidationError):
        utils.validate(broken, version, strict=True)
