"""The registry of `aifactory:production` as the plan registers it: MLflow's database is private, protected
and on the factory key, reachable from the system nodes only; its server's pod identity reaches its prefix,
secret and key; the cluster stack runs the server with the infrastructure stack's database. SageMaker gets
a model package group and a publish identity per line. Bad registry config is refused before anything."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from aifactory.cli.planrun import PlanResult, plan_stack
from aifactory.cli.render import kubernetes_files
from aifactory.planning.factory_plan import plan_from_config
from aifactory.registry import ModelRegistry, ModelRegistryArgs
from aifactory.schedulers import production_registry as reg
from aifactory.spec import ConfigError
from aifactory.spec.production import DEFAULT_REGISTRY_NAMESPACE

from tests.components.test_cluster_stack import example
from tests.conftest import RunProgram
from tests.stackfiles import production_line, write_stack

LINE = production_line(
    dataset="s3://aifactory-commercial-us-datasets/train/chat/", fleet="ondemand", queue="research", expected_hours=12
)
ARTIFACTS = "s3://aifactory-commercial-us-datasets/checkpoints/models/"
MLFLOW = "ghcr.io/mlflow/mlflow:v3.5.0"


def commercial(kind: str = "mlflow", **registry: Any) -> dict[str, Any]:
    config = copy.deepcopy(example("commercial-us"))
    spec: dict[str, Any] = {"kind": kind, "artifacts": ARTIFACTS, **registry}
    if kind == "mlflow":
        spec.setdefault("image", MLFLOW)
    config["aifactory:production"] = {"registry": spec, "lines": [LINE]}
    return config


def sovereign() -> dict[str, Any]:
    config = copy.deepcopy(example("sovereign-eu"))
    mirror = config["aifactory:sovereignty"]["registryMirror"]
    bucket = "s3://aifactory-sovereign-eu-data"
    config["aifactory:storage"] = {
        **config["aifactory:storage"],
        "createBucket": True,
        "s3ImportPath": f"{bucket}/train/",
        "s3ExportPath": f"{bucket}/checkpoints/",
    }
    line = copy.deepcopy(LINE)
    line["dataset"] = f"{bucket}/train/chat/"
    line["training"] = {**line["training"], "fleet": "train", "queue": "national-lab"}
    for part in ("training", "evaluation"):
        line[part]["image"] = f"{mirror}/nvcr.io/nvidia/pytorch:25.08-py3"
    config["aifactory:production"] = {
        "registry": {"image": f"{mirror}/{MLFLOW}", "artifacts": f"{bucket}/checkpoints/models/"},
        "lines": [line],
    }
    return config


def plan(tmp_path: Path, name: str, config: dict[str, Any]) -> PlanResult:
    return plan_stack(str(write_stack(tmp_path, name, config)))


def one(result: PlanResult, typ: str, name_part: str = "registry") -> Any:
    found = [r for r in result.resources if r.type == typ and name_part in r.name]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


@pytest.fixture(scope="module")
def mlflow_commercial(tmp_path_factory: pytest.TempPathFactory) -> PlanResult:
    return plan(tmp_path_factory.mktemp("mlflow"), "reg-us", commercial())


@pytest.fixture(scope="module")
def mlflow_sovereign(tmp_path_factory: pytest.TempPathFactory) -> PlanResult:
    return plan(tmp_path_factory.mktemp("sovereign"), "reg-eu", sovereign())


def test_the_database_is_private_protected_backed_up_and_pinned(mlflow_commercial: PlanResult) -> None:
    db = one(mlflow_commercial, "aws:rds/instance:Instance")
    inputs = db.inputs
    assert inputs["engine"] == "postgres" and inputs["engineVersion"] == reg.POSTGRES_ENGINE_VERSION
    assert inputs["autoMinorVersionUpgrade"] is False
    assert inputs["publiclyAccessible"] is False and inputs["storageEncrypted"] is True
    assert inputs["deletionProtection"] is True and inputs["skipFinalSnapshot"] is False
    assert inputs["finalSnapshotIdentifier"] == "reg-us-registry-db-final"
    assert inputs["backupRetentionPeriod"] == reg.BACKUP_RETENTION_DAYS
    assert inputs["manageMasterUserPassword"] is True and "password" not in inputs
    subnets = one(mlflow_commercial, "aws:rds/subnetGroup:SubnetGroup")
    network = mlflow_commercial.outputs["privateSubnetIds"]
    assert sorted(subnets.inputs["subnetIds"]) == sorted(network)


def test_only_the_cluster_group_reaches_postgres(mlflow_commercial: PlanResult) -> None:
    group = one(mlflow_commercial, "aws:ec2/securityGroup:SecurityGroup")
    assert "ingress" not in group.inputs or not group.inputs["ingress"]
    assert "egress" not in group.inputs or not group.inputs["egress"]
    rules = [
        r
        for r in mlflow_commercial.resources
        if r.type.startswith("aws:vpc/securityGroup") and r.inputs.get("securityGroupId") == group.id
    ]
    assert len(rules) == 1
    rule = rules[0].inputs
    assert (rule["ipProtocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 5432, 5432)
    cluster = one(mlflow_commercial, "aws:eks/cluster:Cluster", "eks-cluster")
    assert rule["referencedSecurityGroupId"] == cluster.outputs["vpcConfig"]["clusterSecurityGroupId"]


def test_the_server_identity_is_its_service_account_only(mlflow_commercial: PlanResult) -> None:
    association = one(mlflow_commercial, "aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == ("aifactory-registry", "mlflow")
    role = one(mlflow_commercial, "aws:iam/role:Role")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    condition = trust["Statement"][0]["Condition"]["StringEquals"]
    assert condition["aws:RequestTag/kubernetes-service-account"] == "mlflow"
    policy = json.loads(one(mlflow_commercial, "aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    resources = [s["Resource"] for s in policy["Statement"]]
    assert "arn:aws:s3:::aifactory-commercial-us-datasets/checkpoints/models/*" in resources
    assert mlflow_commercial.outputs["modelRegistry"]["databaseSecretArn"] in resources


def test_the_cluster_stack_runs_the_server_with_the_infrastructure_database(mlflow_commercial: PlanResult) -> None:
    cluster = mlflow_commercial.stacks["aifactory-cluster"]
    deployment = next(r for r in cluster if r.type == "kubernetes:apps/v1:Deployment" and "mlflow" in r.name)
    container = deployment.inputs["spec"]["template"]["spec"]["containers"][0]
    address = mlflow_commercial.outputs["modelRegistry"]["databaseAddress"]
    assert f"postgresql://mlflow@{address}:5432/mlflow?sslmode=require" in container["args"]
    assert container["image"] == MLFLOW
    types = {(r.type, r.inputs["metadata"].get("namespace")) for r in cluster if "metadata" in r.inputs}
    assert ("kubernetes:core/v1:Service", "aifactory-registry") in types
    assert ("kubernetes:core/v1:ConfigMap", "research") in types


def test_render_writes_the_registry_objects_under_production(mlflow_commercial: PlanResult) -> None:
    files = kubernetes_files(mlflow_commercial, mlflow_commercial.plan.placement)
    documents = list(yaml.safe_load_all(files["production/registry.yaml"]))
    assert {(d["kind"], d["metadata"]["name"]) for d in documents} >= {
        ("Namespace", DEFAULT_REGISTRY_NAMESPACE),
        ("Deployment", reg.MLFLOW_NAME),
        ("Service", reg.MLFLOW_NAME),
    }
    assert not [d for d in documents if d["kind"] in ("LeaderWorkerSet", "TrainJob")]


def test_the_plan_has_no_preflight_finding_or_mandatory_violation(mlflow_commercial: PlanResult) -> None:
    assert mlflow_commercial.preflight == []
    assert [v for v in mlflow_commercial.violations if v["level"] == "mandatory"] == []


def test_a_public_endpoint_declares_the_server_in_the_infrastructure_stack(tmp_path: Path) -> None:
    config = commercial()
    scheduler = {**config["aifactory:scheduler"], "endpoint": "public", "publicAccessCidrs": ["203.0.113.0/24"]}
    scheduler.pop("clusterRunner")
    config["aifactory:scheduler"] = scheduler
    result = plan(tmp_path, "reg-public", config)
    assert "aifactory-cluster" not in result.stacks
    deployment = one(result, "kubernetes:apps/v1:Deployment", "mlflow")
    assert any(
        a.startswith("postgresql://mlflow@reg-public-registry-db")
        for a in deployment.inputs["spec"]["template"]["spec"]["containers"][0]["args"]
    )


def test_a_sovereign_registry_is_on_the_key_in_region_and_from_the_mirror(mlflow_sovereign: PlanResult) -> None:
    key = mlflow_sovereign.outputs["kmsKeyArn"]
    db = one(mlflow_sovereign, "aws:rds/instance:Instance").inputs
    assert db["kmsKeyId"] == key and db["masterUserSecretKmsKeyId"] == key
    policy = json.loads(one(mlflow_sovereign, "aws:kms/key:Key", "cmk").inputs["policy"])
    sids = {s.get("Sid") for s in policy["Statement"]}
    assert {"RdsUseKey", "SecretsManagerUseKey"} <= sids
    role_policy = json.loads(one(mlflow_sovereign, "aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    via = next(s for s in role_policy["Statement"] if s["Sid"] == "FactoryKeyThroughServices")
    assert via["Resource"] == key
    assert via["Condition"]["StringEquals"]["kms:ViaService"] == [
        "s3.eu-north-1.amazonaws.com",
        "secretsmanager.eu-north-1.amazonaws.com",
    ]
    deployment = one(mlflow_sovereign, "kubernetes:apps/v1:Deployment", "mlflow")
    mirror = sovereign()["aifactory:sovereignty"]["registryMirror"]
    assert deployment.inputs["spec"]["template"]["spec"]["containers"][0]["image"].startswith(mirror + "/")
    assert mlflow_sovereign.preflight == []
    # Every policy is mandatory in a sovereign stack; none is violated by the registry's resources (the
    # test's bucket, which is not the registry's, lacks access logging).
    assert [v for v in mlflow_sovereign.violations if "registry" in v["urn"] or "mlflow" in v["urn"]] == []


def test_a_sagemaker_registry_is_refused_until_the_cycle_can_publish_to_it() -> None:
    # `ModelRegistry` builds the model package groups and the publish identity (see
    # test_the_stores_are_protected), but the lines' cycle publishes with the MLflow client only.
    with pytest.raises(ConfigError) as caught:
        plan_from_config(commercial("sagemaker"), "reg-sm")
    assert [i.path for i in caught.value.issues if not i.is_warning] == ["aifactory:production.registry.kind"]


def test_an_mlflow_registry_on_the_file_system_is_refused() -> None:
    config = commercial(artifacts="/fsx/models")
    with pytest.raises(ConfigError) as caught:
        plan_from_config(config, "reg-us")
    issues = [i for i in caught.value.issues if i.path == "aifactory:production.registry.artifacts"]
    assert issues and "system nodes" in issues[0].problem


def test_an_mlflow_registry_outside_the_data_repository_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        plan_from_config(commercial(artifacts="s3://elsewhere/models/"), "reg-us")
    assert any(i.path == "aifactory:production.registry.artifacts" for i in caught.value.issues)


@pytest.mark.parametrize("kind", ["mlflow", "sagemaker"])
def test_the_stores_are_protected(run_program: RunProgram, kind: str) -> None:
    """The database and the model package groups hold the registry: a stack change never deletes them."""
    args: ModelRegistryArgs = {
        "kind": kind,
        "factory": "f",
        "region": "us-east-1",
        "namespace": "aifactory-registry",
        "artifacts": ARTIFACTS,
        "lines": [{"name": "chat-ft", "namespace": "research"}],
        "vpc_id": "vpc-1",
        "subnet_ids": ["subnet-a", "subnet-b"],
    }

    def program() -> None:
        registry = ModelRegistry("f-registry", args)
        registry.connect("f-eks", "sg-cluster", [])

    planned = run_program(program)
    store = "aws:rds/instance:Instance" if kind == "mlflow" else "aws:sagemaker/modelPackageGroup:ModelPackageGroup"
    assert planned.one(store).protect
    assert not planned.one("aws:eks/podIdentityAssociation:PodIdentityAssociation").protect
