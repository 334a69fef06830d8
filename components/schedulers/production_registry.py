"""The model registry of `aifactory:production` (issue 17 part 4): pure objects and policy documents.

`kind: mlflow`: an MLflow tracking server and model registry in the cluster (Deployment, Service,
ServiceAccount in `registry.namespace`, on the system nodes), its metadata in RDS for PostgreSQL (the
infrastructure stack's `registry.ModelRegistry`) and its artifacts under the `registry.artifacts`
S3 prefix, which the server proxies (`--serve-artifacts`), so only the server's pod identity touches the
bucket. Publishing is `registry_publish.py` (shipped here in a ConfigMap per line namespace), which
registers a version and moves an alias to it.

`kind: sagemaker` (commercial only): a SageMaker model package group per line; the publish step
creates a model package version in it and approves it (the alias is "the latest Approved version").

Why RDS for PostgreSQL and not Aurora: MLflow's store is a few tables written by one server; a single
small instance with storage autoscaling, backups and Multi-AZ off by default costs a fraction of an
Aurora cluster's minimum of a writer instance plus cluster storage I/O, and needs no cluster resource.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..arns import regional_service_host
from ..spec.storage import S3Location
from .helm_values import SYSTEM_NODE_LABEL
from .kubernetes_manifests import Manifest, mirror_image

MLFLOW_NAME = "mlflow"
"""Name of the tracking server's Deployment, Service and ServiceAccount."""
MLFLOW_PORT = 5000
"""The MLflow server's default port (MLflow docs, "MLflow Tracking Server": `--port`, default 5000)."""
HEALTH_PATH = "/health"
"""The server's health endpoint, exempt from its Host-header check (mlflow/server/security_utils.py
HEALTH_ENDPOINTS, MLflow 3.5+)."""
DATABASE_PORT = 5432
DATABASE_NAME = "mlflow"
DATABASE_USER = "mlflow"
POSTGRES_ENGINE_VERSION = "17.7"
"""RDS for PostgreSQL engine version, pinned: 17 is in RDS standard support until 2030, and 17.7 is the
minor RDS itself upgrades 17.1-17.4 to (Amazon RDS for PostgreSQL Release Notes, "Release calendars
for Amazon RDS for PostgreSQL"; AWS Health notice of 2026 on minors 17.1-17.4). Minor upgrades are
not automatic (`auto_minor_version_upgrade=False`): the pin is raised here, before RDS deprecates it."""
DATABASE_INSTANCE_CLASS = "db.t4g.medium"
DATABASE_STORAGE_GIB = 20
DATABASE_MAX_STORAGE_GIB = 200
BACKUP_RETENTION_DAYS = 14
PROGRAMS_CONFIGMAP = "aifactory-registry-programs"
PUBLISH_CONFIGMAP = "aifactory-publish"
PROGRAMS_MOUNT = "/opt/aifactory"
SERVER_PROGRAM = "server.py"
PUBLISH_PROGRAM = "publish.py"
REGISTRY_LABEL = "aifactory.io/component"


def tracking_uri(registry_namespace: str) -> str:
    """What the publish step and serving set as `MLFLOW_TRACKING_URI`: the Service's cluster DNS name
    (Kubernetes docs, "DNS for Services and Pods")."""
    return f"http://{MLFLOW_NAME}.{registry_namespace}.svc.cluster.local:{MLFLOW_PORT}"


def publish_service_account(line: str) -> str:
    """The service account of a line's publish step (SageMaker: its pod identity)."""
    return f"{line}-publish"


def model_package_group_name(factory: str, line: str) -> str:
    """A line's SageMaker model package group: 1-63 of [a-zA-Z0-9-] (SageMaker API reference,
    CreateModelPackageGroup `ModelPackageGroupName`); a factory name and a line name are DNS labels."""
    return f"{factory}-{line}"[:63].rstrip("-")


def _program(module: str) -> str:
    return Path(__file__).with_name(module).read_text()


def server_program() -> str:
    """`registry_server.py`: starts `mlflow server` with the database password from Secrets Manager."""
    return _program("registry_server.py")


def publish_program() -> str:
    """`registry_publish.py`: registers a model version and moves an alias to it."""
    return _program("registry_publish.py")


@dataclass(frozen=True)
class MlflowServer:
    """What the tracking server's objects are built from; `database_host` and `secret_arn` are the
    infrastructure stack's (placed in the objects as they are, so Outputs pass through)."""

    image: str
    namespace: str
    artifacts: S3Location
    database_host: Any
    secret_arn: Any
    region: str
    line_namespaces: Sequence[str] = ()
    registry_mirror: str | None = None


def _labels(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {"app.kubernetes.io/name": MLFLOW_NAME, REGISTRY_LABEL: "registry", **(extra or {})}


def backend_store_uri(host: str) -> str:
    """The PostgreSQL URI without a password (libpq takes it from PGPASSWORD). RDS for PostgreSQL 15
    and later require TLS by default (`rds.force_ssl` 1; RDS user guide, "Using SSL with a PostgreSQL DB
    instance"), so the client asks for it."""
    return f"postgresql://{DATABASE_USER}@{host}:{DATABASE_PORT}/{DATABASE_NAME}?sslmode=require"


def allowed_hosts(registry_namespace: str) -> str:
    """Host headers the server answers (MLflow 3.5+ refuses others: `MLFLOW_SERVER_ALLOWED_HOSTS`,
    mlflow/environment_variables.py; default localhost and private IPs only): the Service's DNS names."""
    names = [
        MLFLOW_NAME,
        f"{MLFLOW_NAME}.{registry_namespace}",
        f"{MLFLOW_NAME}.{registry_namespace}.svc",
        f"{MLFLOW_NAME}.{registry_namespace}.svc.cluster.local",
    ]
    return ",".join(host for name in names for host in (name, f"{name}:{MLFLOW_PORT}"))


def mlflow_objects(server: MlflowServer) -> list[Manifest]:
    """Namespace, ServiceAccount, programs ConfigMap, Deployment and Service of the tracking server, and
    the publish program's ConfigMap in every line namespace."""
    ns = server.namespace
    image = mirror_image(server.image, server.registry_mirror) if server.registry_mirror else server.image
    host = server.database_host
    uri = backend_store_uri(host) if isinstance(host, str) else host.apply(backend_store_uri)
    args = [
        "server",
        "--host",
        "0.0.0.0",
        "--port",
        str(MLFLOW_PORT),
        "--backend-store-uri",
        uri,
        # With --serve-artifacts the server proxies artifact reads and writes to --artifacts-destination,
        # and clients log to `mlflow-artifacts:/` URIs (MLflow docs, "MLflow Tracking Server", "Configure
        # Server": artifact store options).
        "--artifacts-destination",
        server.artifacts.uri,
        "--serve-artifacts",
    ]
    container = {
        "name": MLFLOW_NAME,
        "image": image,
        "command": ["python", f"{PROGRAMS_MOUNT}/{SERVER_PROGRAM}"],
        "args": args,
        "env": [
            {"name": "AIFACTORY_DB_SECRET_ARN", "value": server.secret_arn},
            {"name": "AWS_DEFAULT_REGION", "value": server.region},
            {"name": "MLFLOW_SERVER_ALLOWED_HOSTS", "value": allowed_hosts(ns)},
        ],
        "ports": [{"name": "http", "containerPort": MLFLOW_PORT, "protocol": "TCP"}],
        "readinessProbe": {
            "httpGet": {"path": HEALTH_PATH, "port": "http"},
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": HEALTH_PATH, "port": "http"},
            "initialDelaySeconds": 30,
            "periodSeconds": 20,
            "failureThreshold": 6,
        },
        "resources": {
            "requests": {"cpu": "500m", "memory": "1Gi"},
            "limits": {"memory": "2Gi"},
        },
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "programs", "mountPath": PROGRAMS_MOUNT, "readOnly": True}],
    }
    objects: list[Manifest] = [
        # Not a team namespace (no `aifactory.io/team`): no queue admits workloads from it.
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {REGISTRY_LABEL: "registry"}}},
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": MLFLOW_NAME, "namespace": ns, "labels": _labels()},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": PROGRAMS_CONFIGMAP, "namespace": ns, "labels": _labels()},
            "data": {SERVER_PROGRAM: server_program()},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": MLFLOW_NAME, "namespace": ns, "labels": _labels()},
            "spec": {
                # One server: at first start MLflow creates and migrates its tables, which two servers
                # starting together would race on; Recreate keeps it one across an update.
                "replicas": 1,
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": {"app.kubernetes.io/name": MLFLOW_NAME}},
                "template": {
                    "metadata": {"labels": _labels()},
                    "spec": {
                        "serviceAccountName": MLFLOW_NAME,
                        "nodeSelector": dict(SYSTEM_NODE_LABEL),
                        "containers": [container],
                        "volumes": [{"name": "programs", "configMap": {"name": PROGRAMS_CONFIGMAP}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": MLFLOW_NAME, "namespace": ns, "labels": _labels()},
            "spec": {
                "type": "ClusterIP",
                "selector": {"app.kubernetes.io/name": MLFLOW_NAME},
                "ports": [{"name": "http", "port": MLFLOW_PORT, "targetPort": "http", "protocol": "TCP"}],
            },
        },
    ]
    objects += publish_configmaps(server.line_namespaces)
    return objects


def publish_configmaps(line_namespaces: Sequence[str]) -> list[Manifest]:
    """The publish program in each namespace that runs a line's publish step."""
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": PUBLISH_CONFIGMAP, "namespace": ns, "labels": {REGISTRY_LABEL: "registry"}},
            "data": {PUBLISH_PROGRAM: publish_program()},
        }
        for ns in dict.fromkeys(line_namespaces)
    ]


# --- IAM -------------------------------------------------------------------------------------------


def _s3_prefix_statements(partition: str, artifacts: S3Location, actions: Sequence[str]) -> list[dict[str, Any]]:
    """Objects under the prefix only, and listing only below it (S3 user guide, "Actions, resources, and
    condition keys for Amazon S3": `s3:prefix` on ListBucket)."""
    prefix = artifacts.uri.removeprefix(f"s3://{artifacts.bucket}/")  # "" or "models/"
    return [
        {
            "Sid": "ArtifactObjects",
            "Effect": "Allow",
            "Action": list(actions),
            "Resource": f"arn:{partition}:s3:::{artifacts.bucket}/{prefix}*",
        },
        {
            "Sid": "ListArtifacts",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": f"arn:{partition}:s3:::{artifacts.bucket}",
            "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}},
        },
    ]


def _key_statement(key_arn: str | None, services: Sequence[str], region: str, partition: str) -> list[dict[str, Any]]:
    """Use of the factory key only through the services that encrypt with it (KMS developer guide, "AWS
    KMS condition keys": kms:ViaService); S3 asks for a data key on PutObject and decrypts on GetObject
    (S3 user guide, "Using server-side encryption with AWS KMS keys": required permissions), Secrets
    Manager decrypts on GetSecretValue."""
    if key_arn is None:
        return []
    via = [regional_service_host(s, region, partition) for s in services]
    return [
        {
            "Sid": "FactoryKeyThroughServices",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": key_arn,
            "Condition": {"StringEquals": {"kms:ViaService": via}},
        }
    ]


def mlflow_server_policy(
    partition: str, region: str, artifacts: S3Location, secret_arn: str, key_arn: str | None
) -> dict[str, Any]:
    """The tracking server's pod identity: its artifact prefix, its database secret, the factory key."""
    statements = _s3_prefix_statements(partition, artifacts, ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"])
    statements.append(
        {"Sid": "DatabaseSecret", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret_arn}
    )
    statements += _key_statement(key_arn, ["s3", "secretsmanager"], region, partition)
    return {"Version": "2012-10-17", "Statement": statements}


def sagemaker_publish_policy(
    partition: str, region: str, account: str, group_names: Sequence[str], artifacts: S3Location
) -> dict[str, Any]:
    """A line's publish step with SageMaker: new versions in its model package groups and their approval
    status (SageMaker developer guide, "Register a Model Version" and "Update the Approval Status of a
    Model"; Service Authorization Reference, Amazon SageMaker: model-package and model-package-group
    resources), and reading the model data it registers."""
    groups = [f"arn:{partition}:sagemaker:{region}:{account}:model-package-group/{g}" for g in group_names]
    packages = [f"arn:{partition}:sagemaker:{region}:{account}:model-package/{g}/*" for g in group_names]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ModelPackageVersions",
                "Effect": "Allow",
                "Action": [
                    "sagemaker:CreateModelPackage",
                    "sagemaker:DescribeModelPackage",
                    "sagemaker:UpdateModelPackage",
                    "sagemaker:AddTags",
                ],
                "Resource": groups + packages,
            },
            {
                "Sid": "DescribeGroups",
                "Effect": "Allow",
                "Action": "sagemaker:DescribeModelPackageGroup",
                "Resource": groups,
            },
            *_s3_prefix_statements(partition, artifacts, ["s3:GetObject"]),
        ],
    }


def policy_json(document: Mapping[str, Any]) -> str:
    return json.dumps(document, sort_keys=True)
