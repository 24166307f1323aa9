"""deploy/k8s/: the Kubernetes manifests against the Kubernetes schemas (kubernetes-validate, offline) and
the code: every setting, port, command and probe they name. tests/deploy/test_kube_play.py runs them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.deploy.settings import (
    APP_UID,
    ENTRY_POINTS,
    SETTINGS,
    check_variables,
    client_token_variable,
    parse_settings,
)
from tests.support import REPO

pytestmark = pytest.mark.deploy

K8S = REPO / "deploy" / "k8s"
# Kubernetes versions the manifests must be valid for: the oldest one docs/deploy.md promises and the
# newest kubernetes-validate knows.
K8S_VERSIONS = ("1.30.0", "1.37.0")
IMAGES = {"segmentation-server": "server", "segmentation-bridge": "bridge", "segmentation-ui": "ui"}


def _manifest_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def _documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.fixture(scope="module")
def k8s() -> dict[tuple[str, str], dict]:
    """(kind, name) -> resource, for every manifest kustomization.yaml applies."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    resources = {}
    for name in kustomization["resources"]:
        for doc in _documents(K8S / name):
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in resources, f"{key} twice"
            resources[key] = doc
    return resources


def _containers(deployment: dict) -> list[dict]:
    return deployment["spec"]["template"]["spec"]["containers"]


def _program(container: dict) -> str:
    return IMAGES[container["image"].rsplit(":", 1)[0].rsplit("/", 1)[-1]]


def _deployments(k8s) -> dict[str, dict]:
    return {_program(_containers(d)[0]): d for (kind, _), d in k8s.items() if kind == "Deployment"}


def _config(k8s) -> dict[str, str]:
    (config,) = [r for (kind, _), r in k8s.items() if kind == "ConfigMap"]
    return config["data"]


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("path", _manifest_files(), ids=lambda p: p.name)
def test_manifests_follow_the_kubernetes_schemas(path, version):
    from kubernetes_validate import utils

    for doc in _documents(path):
        try:
            utils.validate(doc, version, strict=True)
        except utils.ValidationError as exc:
            pytest.fail(f"{path.name} {doc['kind']}/{doc['metadata']['name']} (Kubernetes {version}): "
                        f"{'.'.join(map(str, exc.path))}: {exc.message}")
        except utils.SchemaNotFoundError as exc:
            pytest.fail(exc.message)


def test_kubernetes_schemas_reject_mistakes(k8s):
    from kubernetes_validate import utils

    deployment = json.loads(json.dumps(_deployments(k8s)["server"]))
    # The kubelet's gRPC probe takes a port number only, not a port name.
    _containers(deployment)[0]["livenessProbe"]["grpc"]["port"] = "grpc"
    with pytest.raises(utils.ValidationError):
        utils.validate(deployment, K8S_VERSIONS[-1], strict=True)
    deployment = json.loads(json.dumps(_deployments(k8s)["server"]))
    deployment["spec"]["template"]["spec"]["terminationGracePeriod"] = 30
    with pytest.raises(utils.ValidationError):
        utils.validate(deployment, K8S_VERSIONS[-1], strict=True)


def test_kustomization_lists_every_manifest_but_the_secret_example(k8s):
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in _manifest_files()} - {"secret.example.yaml"}
    namespace = kustomization["namespace"]
    for (kind, name), resource in k8s.items():
        if kind != "Namespace":
            assert resource["metadata"].get("namespace") == namespace, f"{kind}/{name}"
    assert ("Namespace", namespace) in k8s
    images = {image["name"] for image in kustomization.get("images", [])}
    assert images <= set(IMAGES)


def test_selectors_match_pod_labels(k8s):
    pods = {name: d["spec"]["template"]["metadata"]["labels"] for (kind, name), d in k8s.items()
            if kind == "Deployment"}
    for (kind, name), resource in k8s.items():
        if kind == "Deployment":
            selector = resource["spec"]["selector"]["matchLabels"]
            assert selector.items() <= pods[name].items(), name
        elif kind in ("Service", "PodDisruptionBudget"):
            selector = resource["spec"]["selector"]
            selector = selector.get("matchLabels", selector)
            assert [p for p, labels in pods.items() if selector.items() <= labels.items()], f"{kind}/{name}"


def test_deployments_run_the_images_as_built(k8s):
    for program, deployment in _deployments(k8s).items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == APP_UID
        for container in pod["containers"]:
            assert container["image"].rsplit(":", 1)[1] != "latest"
            assert container.get("command", ENTRY_POINTS[program]) == ENTRY_POINTS[program]
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), f"{program}: {kind}"
            assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_configmap_and_container_variables_are_settings(k8s, monkeypatch):
    config = _config(k8s)
    check_variables(set(config), None, "ConfigMap")
    built = parse_settings({k: v for k, v in config.items() if k.startswith(tuple(SETTINGS))}, monkeypatch,
                           "ConfigMap")
    assert built["SEGMENTATION_"].host == built["BRIDGE_"].host == config["STREAMLIT_SERVER_ADDRESS"] == "0.0.0.0"
    for program, deployment in _deployments(k8s).items():
        for container in _containers(deployment):
            check_variables({e["name"] for e in container.get("env", [])}, program, f"{program} Deployment")
            refs = [ref["configMapRef"]["name"] for ref in container.get("envFrom", [])]
            assert refs == [name for (kind, name) in k8s if kind == "ConfigMap"], program


def test_clients_balance_over_the_headless_service(k8s, monkeypatch):
    config = _config(k8s)
    server = parse_settings({k: v for k, v in config.items() if k.startswith("SEGMENTATION_")}, monkeypatch,
                            "ConfigMap")["SEGMENTATION_"]
    (service,) = [r for (kind, name), r in k8s.items() if kind == "Service" and name == "segmentation-server"]
    assert service["spec"]["clusterIP"] == "None"
    (grpc_port,) = [p for p in service["spec"]["ports"] if p["name"] == "grpc"]
    assert grpc_port["port"] == server.port
    namespace = service["metadata"]["namespace"]
    target = f"dns:///segmentation-server.{namespace}.svc.cluster.local:{server.port}"
    assert config["BRIDGE_GRPC_TARGET"] == config["UI_GRPC_TARGET"] == target
    from segmentation_client._channels import SERVICE_CONFIG, grpc_target

    assert grpc_target(target) == target, "one dns:/// target is passed on, so gRPC resolves every pod"
    assert json.loads(SERVICE_CONFIG)["loadBalancingConfig"] == [{"round_robin": {}}]


def test_server_deployment(k8s, monkeypatch):
    config = _config(k8s)
    server = parse_settings({k: v for k, v in config.items() if k.startswith("SEGMENTATION_")}, monkeypatch,
                            "ConfigMap")["SEGMENTATION_"]
    deployment = _deployments(k8s)["server"]
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": server.port, "metrics": server.metrics_port}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        grpc_probe = container[probe]["grpc"]
        assert grpc_probe["port"] == server.port and grpc_probe.get("service", "") == "", probe
    sleep = container["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep" and int(sleep[1]) > 0
    assert pod["terminationGracePeriodSeconds"] > int(sleep[1]) + server.grace_seconds
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == server.metrics_port
    assert annotations["prometheus.io/path"] == "/metrics"
    # Threads: the default comes from the node's CPU count; set, they must fit in the CPU limit.
    assert "SEGMENTATION_THREADS" in config
    cpu_limit = container["resources"]["limits"]["cpu"]
    cores = int(cpu_limit[:-1]) / 1000 if str(cpu_limit).endswith("m") else float(cpu_limit)
    assert server.workers * server.threads <= cores


def test_token_comes_from_an_optional_secret(k8s):
    """Without the Secret, no authentication; with it, the server requires it and the clients send it."""
    (secret,) = _documents(K8S / "secret.example.yaml")
    assert secret["kind"] == "Secret" and "EXAMPLE ONLY" in (K8S / "secret.example.yaml").read_text()
    wanted = {"server": "SEGMENTATION_AUTH_TOKEN", "bridge": client_token_variable("BRIDGE_"),
              "ui": client_token_variable("UI_")}
    for program, deployment in _deployments(k8s).items():
        (container,) = _containers(deployment)
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container.get("env", [])
                if "secretKeyRef" in e.get("valueFrom", {})}
        if wanted[program] is None:
            assert not refs, program
            continue
        ref = refs[wanted[program]]
        assert ref["optional"] is True and ref["name"] == secret["metadata"]["name"], program
        assert ref["key"] in secret["stringData"] and "REPLACE-ME" in secret["stringData"][ref["key"]]


def test_server_autoscaler(k8s):
    (hpa,) = [r for (kind, _), r in k8s.items() if kind == "HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) in k8s and _program(_containers(k8s[("Deployment", target["name"])])[0]) == "server"
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["type"] == "Utilization"
    assert 0 < metric["resource"]["target"]["averageUtilization"] <= 100


def test_bridge_and_ui_deployments(k8s, monkeypatch):
    config = _config(k8s)
    bridge = parse_settings({k: v for k, v in config.items() if k.startswith("BRIDGE_")}, monkeypatch,
                            "ConfigMap")["BRIDGE_"]
    expected = {
        "bridge": (bridge.port, "/readyz", "/healthz"),
        "ui": (int(config["STREAMLIT_SERVER_PORT"]), "/_stcore/health", "/_stcore/health"),
    }
    deployments = _deployments(k8s)
    for program, (port, ready, live) in expected.items():
        (container,) = _containers(deployments[program])
        assert [p["containerPort"] for p in container["ports"]] == [port]
        port_name = container["ports"][0]["name"]
        assert container["readinessProbe"]["httpGet"]["path"] == ready
        assert container["livenessProbe"]["httpGet"]["path"] == live
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"]["port"] in (port, port_name)
        name = deployments[program]["metadata"]["name"]
        service = k8s[("Service", name)]
        assert service["spec"].get("clusterIP") != "None"
        assert [p["targetPort"] for p in service["spec"]["ports"]] in ([port], [port_name])
