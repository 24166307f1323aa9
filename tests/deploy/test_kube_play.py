"""deploy/k8s/ run with `podman kube play`: the server, bridge and UI Deployments with the ConfigMap, as
built by `make images`. Their containers start under the manifests' security contexts (non-root, read-only root
file system), every probe passes, and a client reaches the server through them.

Podman is not a cluster, so three things differ from one, each for a stated reason:
- podman 4.3 publishes every containerPort on all host interfaces, where Kubernetes publishes none: the
  ports get a hostIP of 127.0.0.1 and free host ports, and each Deployment plays with one replica (two
  would ask for the same host ports);
- no cluster DNS: the bridge and UI pods' hostAliases map the server Service's name to the server pod's
  address, as a headless Service's DNS record would;
- podman 4.3 runs no readiness, startup or gRPC probes, and turns an httpGet liveness probe into `curl`
  inside the container (the images have no curl, and a named port becomes port 0): the test performs
  each probe's action itself against the running pod.
The HorizontalPodAutoscaler, PodDisruptionBudget, Services and KServe's InferenceService have no podman
counterpart: test_manifests.py and test_kserve.py check them against the Kubernetes schemas.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from segmentation_client import SegmentationClient
from tests.deploy.browser import legend_of_a_sample
from tests.deploy.engine import ENGINE, NO_ENGINE, engine, inspect
from tests.support import REPO, SAMPLES, free_port

# The first test to need the images builds them: minutes on a fresh machine.
pytestmark = [pytest.mark.containers, pytest.mark.timeout(1800),
              pytest.mark.skipif(ENGINE != "podman", reason=f"podman kube play needs podman ({NO_ENGINE})")]

K8S = REPO / "deploy" / "k8s"
NETWORK = "segmentation-kube-test"


def deployment(name: str) -> dict:
    (found,) = [d for d in yaml.safe_load_all((K8S / f"{name}.yaml").read_text()) if d and d["kind"] == "Deployment"]
    return found


def for_podman(manifest: dict, ports: dict[str, int], aliases: list[dict] | None = None) -> dict:
    """The Deployment as podman can play it on this machine (see the module's docstring)."""
    played = copy.deepcopy(manifest)
    played["spec"]["replicas"] = 1
    pod = played["spec"]["template"]["spec"]
    for container in pod["containers"]:
        for port in container.get("ports", []):
            port.update(hostIP="127.0.0.1", hostPort=ports[port["name"]])
    if aliases:
        pod["hostAliases"] = aliases
    return played


def play(manifest: dict, tmp_path: Path) -> str:
    """Play one Deployment on the test's network; the name of its one container."""
    path = tmp_path / f"{manifest['metadata']['name']}.yaml"
    path.write_text(yaml.safe_dump(manifest))
    engine("kube", "play", "--network", NETWORK, "--configmap", str(K8S / "configmap.yaml"), str(path), timeout=180)
    name = f"{manifest['metadata']['name']}-pod-0-{manifest['spec']['template']['spec']['containers'][0]['name']}"
    assert inspect(name)["State"]["Running"], engine("logs", name, check=False).stdout
    return name


@pytest.fixture(scope="module")
def pods(images, tmp_path_factory) -> Iterator[dict[str, tuple[str, dict[str, int]]]]:
    """container name and host ports of the server and the bridge, played from the manifests."""
    tmp = tmp_path_factory.mktemp("kube")
    engine("network", "rm", "-f", NETWORK, check=False)
    engine("network", "create", NETWORK)
    played: list[Path] = []
    try:
        server_ports = {"grpc": free_port(), "metrics": free_port()}
        server = for_podman(deployment("server"), server_ports)
        server_name = play(server, tmp)
        played.append(tmp / "segmentation-server.yaml")
        address = inspect(server_name)["NetworkSettings"]["Networks"][NETWORK]["IPAddress"]
        service_name = "segmentation-server.segmentation.svc.cluster.local"
        bridge_ports = {"http": free_port()}
        bridge = for_podman(deployment("bridge"), bridge_ports, [{"ip": address, "hostnames": [service_name]}])
        bridge_name = play(bridge, tmp)
        played.append(tmp / "segmentation-bridge.yaml")
        ui_ports = {"http": free_port()}
        ui_name = play(for_podman(deployment("ui"), ui_ports, [{"ip": address, "hostnames": [service_name]}]), tmp)
        played.append(tmp / "segmentation-ui.yaml")
        yield {"server": (server_name, server_ports), "bridge": (bridge_name, bridge_ports), "ui": (ui_name, ui_ports)}
    finally:
        for path in reversed(played):
            engine("kube", "down", str(path), check=False, timeout=120)
        engine("network", "rm", "-f", NETWORK, check=False)


def _until(check, timeout: float = 120.0):
    """Call `check` until it returns a true value or raises nothing falsy; the last error at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except (grpc.RpcError, httpx.HTTPError):
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"{check} did not pass in {timeout} s")
        time.sleep(1)


def _grpc_probe(port: int) -> bool:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=3)
    return response.status == health_pb2.HealthCheckResponse.SERVING


def _http_probe(port: int, path: str) -> bool:
    return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=3).status_code == 200


def _probes(name: str) -> dict[str, dict]:
    (container,) = deployment(name)["spec"]["template"]["spec"]["containers"]
    return {kind: container[kind] for kind in ("startupProbe", "readinessProbe", "livenessProbe") if kind in container}


def test_the_server_pod_passes_its_probes(pods):
    _, ports = pods["server"]
    for kind, probe in _probes("server").items():
        assert probe["grpc"]["port"] == 50051, kind  # the pod's grpc port, published here on ports["grpc"]
        assert _until(lambda: _grpc_probe(ports["grpc"])), kind


@pytest.mark.parametrize("service", ["bridge", "ui"])
def test_the_client_pods_pass_their_probes(pods, service):
    """The bridge's readiness (/readyz) asks the server through the Service name of the ConfigMap."""
    _, ports = pods[service]
    for kind, probe in _probes(service).items():
        assert probe["httpGet"]["port"] == "http", kind  # the pod's http port, published here on ports["http"]
        path = probe["httpGet"]["path"]
        assert _until(lambda path=path: _http_probe(ports["http"], path)), kind


def test_a_client_segments_through_the_pods(pods):
    _, server_ports = pods["server"]
    _, bridge_ports = pods["bridge"]
    photo = (SAMPLES / "cat_720p.jpg").read_bytes()
    with SegmentationClient(f"127.0.0.1:{server_ports['grpc']}") as client:
        assert "cat" in [c.label for c in client.segment(photo, timeout=30).classes]
    response = httpx.post(f"http://127.0.0.1:{bridge_ports['http']}/v1/segment", content=photo,
                          headers={"Content-Type": "image/jpeg"}, timeout=30)
    assert response.status_code == 200, response.text
    assert httpx.get(f"http://127.0.0.1:{server_ports['metrics']}/metrics", timeout=5).status_code == 200


def test_the_ui_pod_segments_through_the_server_service(pods, tmp_path):
    """The UI pod calls the server by the Service name of the ConfigMap, under a read-only root file system."""
    _, ports = pods["ui"]
    assert "cat" in legend_of_a_sample(f"http://127.0.0.1:{ports['http']}/", tmp_path / "profile")


def test_the_pods_run_as_the_manifests_say(pods):
    for service in ("server", "bridge", "ui"):
        name, _ = pods[service]
        found = inspect(name)
        assert found["Config"]["User"] in ("10001", "10001:10001"), found["Config"]["User"]
        assert found["HostConfig"]["ReadonlyRootfs"] is True
        ids = engine("exec", name, "sh", "-c", "grep -h '^[UG]id:' /proc/[0-9]*/status").stdout.split("\n")
        assert {int(v) for line in ids if line for v in line.split()[1:]} == {10001}
