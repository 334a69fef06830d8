"""AWS Lambda handler: on EC2's capacity-block expiration warning, cordon and evict the block's nodes.

Shipped verbatim as the function's code (components/capacity_block_expiry.py); standard library and the
runtime's botocore only (AWS Lambda developer guide, "Building Lambda functions with Python": the Python
runtimes include the AWS SDK for Python).

EC2 sends `Capacity Block Expiration Warning` (source `aws.ec2`, `detail.capacity-reservation-id`) 40 minutes
before the block ends, and starts terminating its instances 10 minutes later (EC2 user guide, "Monitor
Capacity Blocks using EventBridge"). For the reservation in the event, if the factory owns it:
1. every node of the reservation's fleet (label `aifactory.io/fleet`) gets the
   `aifactory.io/capacity-block-ending=true:NoSchedule` taint and `spec.unschedulable` (what the fleet's
   time-based drain sets), so Kueue admits nothing more onto it;
2. every pod on those nodes except DaemonSet and mirror pods is evicted (policy/v1 Eviction) with a grace
   period, so the training containers get SIGTERM and that long to checkpoint; Kueue requeues the workloads.
Redelivery is harmless: a present taint is not added twice, and pods already terminating are skipped.
The Kubernetes API is called with an EKS token: a presigned STS GetCallerIdentity URL carrying the
`x-k8s-aws-id` header (aws-iam-authenticator README, "API Authorization from Outside a Cluster"); the role's
EKS access entry maps it to a group a ClusterRole binds to patch nodes, list pods and create evictions.
Presigning is local: the function calls no AWS API.
"""

import base64
import json
import os
import ssl
import urllib.parse
import urllib.request
from typing import Any

import botocore.session
from botocore.signers import RequestSigner

DETAIL_TYPES = ("Capacity Block Expiration Warning", "Capacity Block Reservation Expiration Warning")
"""The EC2 user guide's example names the detail type both ways (its English and China-Region pages differ)."""
TAINT = {"key": "aifactory.io/capacity-block-ending", "value": "true", "effect": "NoSchedule"}
FLEET_LABEL = "aifactory.io/fleet"
TOKEN_PREFIX = "k8s-aws-v1."
TOKEN_SECONDS = 60


def eks_token(cluster: str, region: str) -> str:
    """A bearer token for `cluster`: a presigned STS GetCallerIdentity URL, base64url without padding."""
    session = botocore.session.get_session()
    client = session.create_client("sts", region_name=region)
    signer = RequestSigner(
        client.meta.service_model.service_id,
        region,
        "sts",
        "v4",
        session.get_credentials(),
        session.get_component("event_emitter"),
    )
    url = signer.generate_presigned_url(
        {
            "method": "GET",
            "url": f"https://sts.{region}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15",
            "body": {},
            "headers": {"x-k8s-aws-id": cluster},
            "context": {},
        },
        region_name=region,
        expires_in=TOKEN_SECONDS,
        operation_name="",
    )
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


class Kubernetes:
    """The few API calls the handler makes, with a bearer token, over the cluster's CA."""

    def __init__(self, endpoint: str, token: str, ca_data: str | None) -> None:
        self.endpoint, self.token = endpoint.rstrip("/"), token
        self.context = ssl.create_default_context(cadata=base64.b64decode(ca_data).decode()) if ca_data else None

    def call(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        request = urllib.request.Request(
            self.endpoint + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": content_type,
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=30) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            # 404: the pod is gone already; 429: a PodDisruptionBudget refuses now (EventBridge's retry and
            # the time-based drain try again).
            if error.code in (404, 429):
                return {"status": error.code}
            raise


def cordon(api: Kubernetes, node: dict[str, Any]) -> bool:
    """Taint and cordon `node`; False when it already was (a redelivered event)."""
    taints = node.get("spec", {}).get("taints") or []
    if node["spec"].get("unschedulable") and any(t.get("key") == TAINT["key"] for t in taints):
        return False
    kept = [t for t in taints if t.get("key") != TAINT["key"]]
    patch = {"spec": {"unschedulable": True, "taints": [*kept, TAINT]}}
    api.call("PATCH", f"/api/v1/nodes/{node['metadata']['name']}", patch, "application/merge-patch+json")
    return True


def evictable(pod: dict[str, Any]) -> bool:
    meta = pod["metadata"]
    if meta.get("deletionTimestamp"):
        return False
    if "kubernetes.io/config.mirror" in (meta.get("annotations") or {}):
        return False
    return not any(o.get("kind") == "DaemonSet" for o in meta.get("ownerReferences") or [])


def evict(api: Kubernetes, node: str, grace: int) -> list[str]:
    selector = urllib.parse.quote(f"spec.nodeName={node}")
    pods = api.call("GET", f"/api/v1/pods?fieldSelector={selector}").get("items", [])
    evicted = []
    for pod in filter(evictable, pods):
        name, namespace = pod["metadata"]["name"], pod["metadata"]["namespace"]
        body = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name, "namespace": namespace},
            "deleteOptions": {"gracePeriodSeconds": grace},
        }
        api.call("POST", f"/api/v1/namespaces/{namespace}/pods/{name}/eviction", body)
        evicted.append(f"{namespace}/{name}")
    return evicted


def handle(event: dict[str, Any], env: dict[str, str], api: Kubernetes | None = None) -> dict[str, Any]:
    """The handler's work with its settings given: `FLEETS` (JSON reservation id -> fleet), `CLUSTER_NAME`,
    `CLUSTER_ENDPOINT`, `CLUSTER_CA` (base64 PEM), `GRACE_SECONDS`, `AWS_REGION`."""
    if event.get("source") != "aws.ec2" or event.get("detail-type") not in DETAIL_TYPES:
        return {"ignored": "not a capacity-block expiration warning"}
    reservation = (event.get("detail") or {}).get("capacity-reservation-id", "")
    fleet = json.loads(env["FLEETS"]).get(reservation)
    if fleet is None:
        return {"ignored": f"reservation {reservation!r} is not the factory's"}
    if api is None:
        token = eks_token(env["CLUSTER_NAME"], env["AWS_REGION"])
        api = Kubernetes(env["CLUSTER_ENDPOINT"], token, env.get("CLUSTER_CA"))
    selector = urllib.parse.quote(f"{FLEET_LABEL}={fleet}")
    nodes = api.call("GET", f"/api/v1/nodes?labelSelector={selector}").get("items", [])
    grace = int(env["GRACE_SECONDS"])
    cordoned = [n["metadata"]["name"] for n in nodes if cordon(api, n)]
    evicted = [pod for n in nodes for pod in evict(api, n["metadata"]["name"], grace)]
    result = {"reservation": reservation, "fleet": fleet, "cordoned": cordoned, "evicted": evicted}
    print(json.dumps(result))
    return result


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, dict(os.environ))
