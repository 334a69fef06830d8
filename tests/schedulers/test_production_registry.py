"""The MLflow registry's objects validate strictly and carry no password; its IAM documents are scoped and
lint clean; the publish program sets an alias (against MLflow itself when it is installed) and the server
program takes the password from the secret."""

from __future__ import annotations

import json
import subprocess
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import kubernetes_validate
import pytest
import yaml
from aifactory.schedulers import production_registry as reg
from aifactory.schedulers import registry_publish, registry_server
from aifactory.spec.storage import parse_s3_path

from tests.golden import check_text

VERSION = "1.35"
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "registry"
ARTIFACTS = parse_s3_path("s3://acme-checkpoints/models/")
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-0a1b2c3d-AbCdEf"
KEY = "arn:aws:kms:us-east-1:123456789012:key/0b7d3c1e-5f2a-4c8e-9d61-2a4f8e7b3c90"
MIRROR = "123456789012.dkr.ecr.eu-north-1.amazonaws.com/mirror"


def server(**changes: Any) -> reg.MlflowServer:
    assert ARTIFACTS is not None
    values: dict[str, Any] = {
        "image": "ghcr.io/mlflow/mlflow:v3.5.0",
        "namespace": "aifactory-registry",
        "artifacts": ARTIFACTS,
        "database_host": "registry-db.abc.us-east-1.rds.amazonaws.com",
        "secret_arn": SECRET,
        "region": "us-east-1",
        "line_namespaces": ["research", "research", "product"],
        **changes,
    }
    return reg.MlflowServer(**values)


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def test_every_object_validates_strictly() -> None:
    objects = reg.mlflow_objects(server())
    for obj in objects:
        kubernetes_validate.validate(obj, VERSION, strict=True)
    assert [o["kind"] for o in objects] == [
        "Namespace",
        "ServiceAccount",
        "ConfigMap",
        "Deployment",
        "Service",
        "ConfigMap",
        "ConfigMap",
    ]


def test_the_validator_catches_a_misspelled_probe() -> None:
    deployment = by_kind(reg.mlflow_objects(server()), "Deployment")[0]
    deployment["spec"]["template"]["spec"]["containers"][0]["readynessProbe"] = {"tcpSocket": {"port": 5000}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSION, strict=True)


def test_the_objects_match_their_golden_file() -> None:
    objects = [o for o in reg.mlflow_objects(server()) if o["kind"] != "ConfigMap"]
    check_text(GOLDEN / "mlflow.yaml", yaml.safe_dump_all(objects, sort_keys=True), __file__)


def test_the_server_runs_on_the_system_nodes_with_its_store_flags_and_probes() -> None:
    deployment = by_kind(reg.mlflow_objects(server()), "Deployment")[0]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"aifactory.io/node-role": "system"}
    assert pod["serviceAccountName"] == reg.MLFLOW_NAME
    container = pod["containers"][0]
    args = container["args"]
    assert args[0] == "server"
    assert args[args.index("--backend-store-uri") + 1] == (
        "postgresql://mlflow@registry-db.abc.us-east-1.rds.amazonaws.com:5432/mlflow?sslmode=require"
    )
    assert args[args.index("--artifacts-destination") + 1] == "s3://acme-checkpoints/models/"
    assert "--serve-artifacts" in args
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["AIFACTORY_DB_SECRET_ARN"] == SECRET
    assert "mlflow.aifactory-registry.svc.cluster.local:5000" in env["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")


def test_no_password_is_in_any_object() -> None:
    text = json.dumps(reg.mlflow_objects(server()))
    assert "PGPASSWORD=" not in text and "password@" not in text
    assert ":5432" in text and "mlflow@registry-db" in text


def test_the_publish_program_is_in_each_line_namespace_once() -> None:
    maps = [
        o for o in by_kind(reg.mlflow_objects(server()), "ConfigMap") if o["metadata"]["name"] == "aifactory-publish"
    ]
    assert [m["metadata"]["namespace"] for m in maps] == ["research", "product"]
    assert maps[0]["data"]["publish.py"] == Path(registry_publish.__file__).read_text()


def test_a_sovereign_server_pulls_from_the_mirror() -> None:
    deployment = by_kind(reg.mlflow_objects(server(registry_mirror=MIRROR)), "Deployment")[0]
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"{MIRROR}/ghcr.io/mlflow/mlflow:v3.5.0"


def test_tracking_uri_names_the_service() -> None:
    assert reg.tracking_uri("aifactory-registry") == "http://mlflow.aifactory-registry.svc.cluster.local:5000"


@pytest.mark.parametrize(("factory", "line"), [("f", "chat-ft"), ("a" * 40, "b" * 40)])
def test_model_package_group_names_fit_sagemaker(factory: str, line: str) -> None:
    import re

    name = reg.model_package_group_name(factory, line)
    # SageMaker API reference, CreateModelPackageGroup: ModelPackageGroupName pattern.
    assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name), name


# --- IAM --------------------------------------------------------------------------------------------


def _parliament_findings(document: dict[str, Any]) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        import parliament
    # Every finding, at any severity: an unknown action is only LOW to parliament.
    return [f"{f.issue}: {f.detail}" for f in parliament.analyze_policy_string(json.dumps(document)).findings]


def test_the_server_policy_is_scoped_to_its_prefix_secret_and_key() -> None:
    assert ARTIFACTS is not None
    document = reg.mlflow_server_policy("aws", "us-east-1", ARTIFACTS, SECRET, KEY)
    by_sid = {s["Sid"]: s for s in document["Statement"]}
    assert by_sid["ArtifactObjects"]["Resource"] == "arn:aws:s3:::acme-checkpoints/models/*"
    assert by_sid["ListArtifacts"]["Condition"] == {"StringLike": {"s3:prefix": ["models/*"]}}
    assert by_sid["DatabaseSecret"]["Resource"] == SECRET
    assert by_sid["FactoryKeyThroughServices"]["Condition"]["StringEquals"]["kms:ViaService"] == [
        "s3.us-east-1.amazonaws.com",
        "secretsmanager.us-east-1.amazonaws.com",
    ]
    assert all(s["Resource"] != "*" for s in document["Statement"])
    assert _parliament_findings(document) == []


def test_without_a_factory_key_the_server_policy_names_no_key() -> None:
    assert ARTIFACTS is not None
    document = reg.mlflow_server_policy("aws", "us-east-1", ARTIFACTS, SECRET, None)
    assert not any("kms:" in json.dumps(s) for s in document["Statement"])


def test_the_sagemaker_publish_policy_names_only_its_groups() -> None:
    assert ARTIFACTS is not None
    document = reg.sagemaker_publish_policy("aws", "us-east-1", "123456789012", ["f-chat-ft"], ARTIFACTS)
    versions = next(s for s in document["Statement"] if s["Sid"] == "ModelPackageVersions")
    assert versions["Resource"] == [
        "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/f-chat-ft",
        "arn:aws:sagemaker:us-east-1:123456789012:model-package/f-chat-ft/*",
    ]
    assert _parliament_findings(document) == []


def test_parliament_would_catch_a_misspelled_action() -> None:
    assert ARTIFACTS is not None
    document = reg.mlflow_server_policy("aws", "us-east-1", ARTIFACTS, SECRET, KEY)
    document["Statement"][2]["Action"] = "secretsmanager:GetSecretValu"
    assert _parliament_findings(document)


# --- the publish program ----------------------------------------------------------------------------


class NotFound(Exception):
    def __init__(self, error_code: str) -> None:
        super().__init__(error_code)
        self.error_code = error_code


class FakeRegistry:
    """Records the calls the program makes, as an `MlflowClient` would answer them."""

    def __init__(self, models: set[str] | None = None, error: str = "RESOURCE_DOES_NOT_EXIST") -> None:
        self.models = set(models or ())
        self.error = error
        self.calls: list[tuple[Any, ...]] = []
        self.versions: dict[str, int] = {}

    def get_registered_model(self, name: str) -> Any:
        if name not in self.models:
            raise NotFound(self.error)
        return SimpleNamespace(name=name)

    def create_registered_model(self, name: str) -> Any:
        self.calls.append(("create_registered_model", name))
        self.models.add(name)

    def get_experiment_by_name(self, name: str) -> Any:
        return None

    def create_experiment(self, name: str) -> str:
        self.calls.append(("create_experiment", name))
        return "7"

    def create_run(self, experiment_id: str) -> Any:
        self.calls.append(("create_run", experiment_id))
        return SimpleNamespace(info=SimpleNamespace(run_id="r1", artifact_uri="mlflow-artifacts:/7/r1/artifacts"))

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None = None) -> None:
        self.calls.append(("log_artifacts", run_id, Path(local_dir).name, artifact_path))

    def set_terminated(self, run_id: str) -> None:
        self.calls.append(("set_terminated", run_id))

    def create_model_version(self, name: str, source: str, run_id: str | None = None) -> Any:
        self.versions[name] = self.versions.get(name, 0) + 1
        self.calls.append(("create_model_version", name, source, run_id))
        return SimpleNamespace(version=self.versions[name])

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        self.calls.append(("set_registered_model_alias", name, alias, version))


def env(uri: str) -> dict[str, str]:
    return {"MLFLOW_TRACKING_URI": "http://mlflow:5000", "MODEL_NAME": "chat-ft", "MODEL_URI": uri, "ALIAS": "champion"}


def test_a_checkpoint_directory_is_uploaded_registered_and_aliased(tmp_path: Path) -> None:
    model = tmp_path / "step-1000"
    model.mkdir()
    (model / "weights.safetensors").write_bytes(b"\0")
    client = FakeRegistry()
    published = registry_publish.publish(client, env(str(model)), NotFound)
    assert published == registry_publish.Published("chat-ft", "1", "champion", "mlflow-artifacts:/7/r1/artifacts/model")
    assert client.calls == [
        ("create_registered_model", "chat-ft"),
        ("create_experiment", "chat-ft"),
        ("create_run", "7"),
        ("log_artifacts", "r1", "step-1000", "model"),
        ("set_terminated", "r1"),
        ("create_model_version", "chat-ft", "mlflow-artifacts:/7/r1/artifacts/model", "r1"),
        ("set_registered_model_alias", "chat-ft", "champion", "1"),
    ]


def test_a_registry_uri_is_registered_as_it_is() -> None:
    client = FakeRegistry(models={"chat-ft"})
    published = registry_publish.publish(client, env("s3://acme-checkpoints/models/chat-ft/7/"), NotFound)
    assert published.source == "s3://acme-checkpoints/models/chat-ft/7/"
    assert [c[0] for c in client.calls] == ["create_model_version", "set_registered_model_alias"]


def test_an_error_other_than_not_found_is_not_swallowed() -> None:
    with pytest.raises(NotFound):
        registry_publish.publish(FakeRegistry(error="PERMISSION_DENIED"), env("runs:/r1/model"), NotFound)


def test_a_missing_directory_fails(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        registry_publish.publish(FakeRegistry(), env(str(tmp_path / "absent")), NotFound)


def test_a_missing_variable_exits_2_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in registry_publish.ENVIRONMENT:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MODEL_NAME", "chat-ft")
    assert registry_publish.main() == 2
    assert "MLFLOW_TRACKING_URI, MODEL_URI, ALIAS" in capsys.readouterr().err


def test_against_mlflow_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real client, on a local SQL store (no server): the alias names the newest version."""
    import mlflow  # the dev extras' mlflow-skinny: a missing client fails this test, it does not skip

    model = tmp_path / "checkpoint"
    model.mkdir()
    (model / "config.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    values = {**env(str(model)), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    assert registry_publish.main() == 0
    assert registry_publish.main() == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [p["version"] for p in printed] == ["1", "2"]
    client = mlflow.MlflowClient()
    assert str(client.get_model_version_by_alias("chat-ft", "champion").version) == "2"


# --- the server program -----------------------------------------------------------------------------


def secret(password: str) -> dict[str, Any]:
    return {"SecretString": json.dumps({"username": "mlflow", "password": password})}


class FakeServer:
    """A server that runs for `runs` checks, then exits 0 (or runs until stopped)."""

    def __init__(self, runs: int | None) -> None:
        self.runs = runs
        self.terminated = False
        self.signals: list[int] = []

    def wait(self, timeout: float | None = None) -> int:
        if self.terminated or timeout is None:
            return -15
        if self.runs is not None and self.runs <= 0:
            return 0
        if self.runs is not None:
            self.runs -= 1
        raise subprocess.TimeoutExpired("mlflow", timeout)

    def terminate(self) -> None:
        self.terminated = True

    def send_signal(self, sig: int) -> None:
        self.signals.append(sig)


def test_the_server_starts_with_the_password_from_the_rds_secret() -> None:
    started: list[tuple[list[str], dict[str, str]]] = []
    asked: list[dict[str, Any]] = []
    server = FakeServer(runs=2)

    def get_secret_value(**kwargs: Any) -> dict[str, Any]:
        asked.append(kwargs)
        return secret("p@ss:/w")

    def start(command: list[str], environment: dict[str, str]) -> FakeServer:
        started.append((command, environment))
        return server

    environ = {registry_server.SECRET_ENV: SECRET, "HOME": "/"}
    assert registry_server.supervise(["server", "--port", "5000"], environ, get_secret_value, start, 0) == 0
    [(command, environment)] = started
    assert command == ["mlflow", "server", "--port", "5000"]
    assert environment["PGPASSWORD"] == "p@ss:/w" and environment["HOME"] == "/"
    assert asked[0] == {"SecretId": SECRET} and len(asked) == 3  # at start and at each of two checks


def test_a_rotated_password_stops_the_server_for_a_restart() -> None:
    passwords = iter(["old", "old", "new"])
    server = FakeServer(runs=None)
    status = registry_server.supervise(
        ["server"],
        {registry_server.SECRET_ENV: SECRET},
        lambda **_: secret(next(passwords)),
        lambda command, environment: server,
        0,
    )
    assert status == registry_server.ROTATED and server.terminated


@pytest.mark.parametrize("value", ['"text"', '{"username": "mlflow"}', "[]"])
def test_a_secret_without_a_password_fails(value: str) -> None:
    with pytest.raises(ValueError, match="password"):
        registry_server.read_password({registry_server.SECRET_ENV: SECRET}, lambda **_: {"SecretString": value})


def test_without_the_secret_variable_the_server_does_not_start() -> None:
    with pytest.raises(KeyError):
        registry_server.read_password({}, lambda **_: {})


def test_the_server_program_is_shipped_as_it_is() -> None:
    programs = next(
        o
        for o in reg.mlflow_objects(server())
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == reg.PROGRAMS_CONFIGMAP
    )
    assert programs["data"]["server.py"] == Path(registry_server.__file__).read_text()
