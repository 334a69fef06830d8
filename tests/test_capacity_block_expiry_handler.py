"""The capacity-block expiry handler against a fake Kubernetes API server (plain http.server) and moto's
credentials: PATCH and eviction bodies, idempotent on redelivery, other reservations untouched."""

from __future__ import annotations

import base64
import importlib.util
import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

HANDLER = Path(__file__).parents[1] / "templates" / "lambda" / "capacity_block_expiry.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("capacity_block_expiry", HANDLER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


handler_module = load()


def node(name: str, fleet: str, taints: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"aifactory.io/fleet": fleet}}, "spec": {"taints": taints or []}}


def pod(name: str, node_name: str, **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "team", **meta}, "spec": {"nodeName": node_name}}


class FakeCluster:
    """Nodes and pods, and every write the handler makes."""

    def __init__(self) -> None:
        self.nodes = {
            "b-1": node("b-1", "block", [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]),
            "b-2": node("b-2", "block"),
            "o-1": node("o-1", "ondemand"),
        }
        self.pods = [
            pod("train-0", "b-1"),
            pod("train-1", "b-2"),
            pod("dcgm", "b-1", ownerReferences=[{"kind": "DaemonSet", "name": "dcgm"}]),
            pod("static", "b-2", annotations={"kubernetes.io/config.mirror": "x"}),
            pod("other", "o-1"),
        ]
        self.writes: list[tuple[str, str, Any, str]] = []
        self.tokens: set[str] = set()

    def respond(self, method: str, path: str, body: Any, content_type: str) -> Any:
        url = urllib.parse.urlparse(path)
        query = urllib.parse.parse_qs(url.query)
        if method == "GET" and url.path == "/api/v1/nodes":
            key, value = query["labelSelector"][0].split("=")
            return {"items": [n for n in self.nodes.values() if n["metadata"]["labels"].get(key) == value]}
        if method == "GET" and url.path == "/api/v1/pods":
            name = query["fieldSelector"][0].removeprefix("spec.nodeName=")
            return {"items": [p for p in self.pods if p["spec"]["nodeName"] == name]}
        self.writes.append((method, url.path, body, content_type))
        if method == "PATCH":
            target = self.nodes[url.path.rsplit("/", 1)[1]]
            target["spec"].update(body["spec"])
            return target
        if method == "POST" and url.path.endswith("/eviction"):
            name = url.path.split("/")[-2]
            for p in self.pods:
                if p["metadata"]["name"] == name:
                    p["metadata"]["deletionTimestamp"] = "2027-06-15T10:50:00Z"
            return {"kind": "Status", "status": "Success"}
        raise AssertionError(f"unexpected {method} {path}")


@pytest.fixture
def cluster() -> Iterator[tuple[FakeCluster, str]]:
    fake = FakeCluster()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            fake.tokens.add(self.headers["Authorization"])
            reply = json.dumps(fake.respond(self.command, self.path, body, self.headers["Content-Type"])).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        do_GET = do_PATCH = do_POST = _serve

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def env(cluster: tuple[FakeCluster, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    # moto's fake credentials: the token is presigned with them (no AWS call is made).
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    return {
        "FLEETS": json.dumps({"cr-0a1b2c3d4e5f60718": "block"}),
        "CLUSTER_NAME": "factory",
        "CLUSTER_ENDPOINT": cluster[1],
        "GRACE_SECONDS": "480",
        "AWS_REGION": "us-east-1",
    }


def warning(
    reservation: str = "cr-0a1b2c3d4e5f60718", detail_type: str = "Capacity Block Expiration Warning"
) -> dict[str, Any]:
    return {
        "version": "0",
        "detail-type": detail_type,
        "source": "aws.ec2",
        "account": "123456789012",
        "region": "us-east-1",
        "resources": [f"arn:aws:ec2:us-east-1:123456789012:capacity-reservation/{reservation}"],
        "detail": {"capacity-reservation-id": reservation, "end-date": "2027-06-15T11:30:00Z"},
    }


def test_cordons_and_evicts_the_blocks_nodes_only(cluster: tuple[FakeCluster, str], env: dict[str, str]) -> None:
    fake, _ = cluster
    result = handler_module.handle(warning(), env)
    assert result["cordoned"] == ["b-1", "b-2"] and result["evicted"] == ["team/train-0", "team/train-1"]
    patches = {path: (body, ctype) for method, path, body, ctype in fake.writes if method == "PATCH"}
    body, ctype = patches["/api/v1/nodes/b-1"]
    assert ctype == "application/merge-patch+json"
    # A merge patch replaces the list: the node's own taints are kept.
    assert body == {
        "spec": {
            "unschedulable": True,
            "taints": [
                {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"},
                {"key": "aifactory.io/capacity-block-ending", "value": "true", "effect": "NoSchedule"},
            ],
        }
    }
    evictions = [(path, body) for method, path, body, _ in fake.writes if method == "POST"]
    assert evictions[0] == (
        "/api/v1/namespaces/team/pods/train-0/eviction",
        {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": "train-0", "namespace": "team"},
            "deleteOptions": {"gracePeriodSeconds": 480},
        },
    )
    assert "/api/v1/nodes/o-1" not in patches and all("other" not in path for path, _ in evictions)
    # The bearer token is a presigned STS GetCallerIdentity URL naming the cluster.
    (token,) = fake.tokens
    assert token.startswith("Bearer k8s-aws-v1.")
    encoded = token.removeprefix("Bearer k8s-aws-v1.")
    url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    assert url.startswith("https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity")
    assert "x-k8s-aws-id" in urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["X-Amz-SignedHeaders"][0]
    assert "X-Amz-Expires=60" in url


def test_redelivery_writes_nothing(cluster: tuple[FakeCluster, str], env: dict[str, str]) -> None:
    fake, _ = cluster
    handler_module.handle(warning(detail_type="Capacity Block Reservation Expiration Warning"), env)
    writes = len(fake.writes)
    again = handler_module.handle(warning(), env)
    assert again["cordoned"] == [] and again["evicted"] == [] and len(fake.writes) == writes


@pytest.mark.parametrize(
    "event",
    [
        warning("cr-0ffffffffffffffff"),
        warning(detail_type="Capacity Block Delivered"),
        {**warning(), "source": "aws.health"},
    ],
    ids=["another-reservation", "another-event", "another-source"],
)
def test_events_the_factory_does_not_own_are_ignored(
    cluster: tuple[FakeCluster, str], env: dict[str, str], event: dict[str, Any]
) -> None:
    fake, _ = cluster
    assert "ignored" in handler_module.handle(event, env)
    assert fake.writes == [] and fake.tokens == set()
