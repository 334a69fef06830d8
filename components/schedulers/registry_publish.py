"""Publish one evaluated model to the MLflow model registry and point an alias at the new version.

Shipped to the cycle's publish step in a ConfigMap (`production_registry.publish_program`) and run
there as `python publish.py` with this environment contract:

* `MLFLOW_TRACKING_URI`: the registry's tracking server (`production_registry.tracking_uri`);
* `MODEL_NAME`: the registered model (created on first publish);
* `MODEL_URI`: the model: a local directory (the checkpoint on the file system), uploaded as a run's
  artifacts through the tracking server, or a URI the registry already reads (`runs:/`, `models:/`,
  `s3://`, `mlflow-artifacts:/`), registered as it is;
* `ALIAS`: the alias set on the new version, e.g. `champion`.

It prints one JSON line `{"name", "version", "alias", "source"}` and exits 0; a missing variable exits 2
with its name. Standard library only, besides MLflow (the image's).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

ENVIRONMENT = ("MLFLOW_TRACKING_URI", "MODEL_NAME", "MODEL_URI", "ALIAS")
ARTIFACT_PATH = "model"
"""Where a local model directory lands in its run's artifacts."""
NOT_FOUND = "RESOURCE_DOES_NOT_EXIST"
REMOTE_SCHEMES = ("runs:/", "models:/", "s3://", "mlflow-artifacts:", "http://", "https://")


class Registry(Protocol):
    """The part of `mlflow.MlflowClient` this program calls (MLflow Python API, `mlflow.client`)."""

    def get_registered_model(self, name: str) -> Any: ...
    def create_registered_model(self, name: str) -> Any: ...
    def create_experiment(self, name: str) -> str: ...
    def get_experiment_by_name(self, name: str) -> Any: ...
    def create_run(self, experiment_id: str) -> Any: ...
    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None = None) -> None: ...
    def set_terminated(self, run_id: str) -> None: ...
    def create_model_version(self, name: str, source: str, run_id: str | None = None) -> Any: ...
    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None: ...


@dataclass(frozen=True)
class Published:
    name: str
    version: str
    alias: str
    source: str


class MissingEnvironment(Exception):
    """A variable of the contract is unset or empty."""


def settings(environ: Mapping[str, str]) -> dict[str, str]:
    missing = [key for key in ENVIRONMENT if not environ.get(key)]
    if missing:
        raise MissingEnvironment(", ".join(missing))
    return {key: environ[key] for key in ENVIRONMENT}


def _is_remote(uri: str) -> bool:
    return uri.startswith(REMOTE_SCHEMES)


def _ensure_registered_model(client: Registry, name: str, not_found: type[Exception]) -> None:
    try:
        client.get_registered_model(name)
    except not_found as error:
        # MlflowException.error_code names the REST error (mlflow/protos/databricks.proto ErrorCode).
        if getattr(error, "error_code", None) != NOT_FOUND:
            raise
        client.create_registered_model(name)


def _upload(client: Registry, name: str, directory: Path) -> tuple[str, str]:
    """Log `directory` as the artifacts of a new run in the experiment named after the model; the
    tracking server stores them at its artifact destination (`--serve-artifacts`). Returns the
    version's source and the run id."""
    experiment = client.get_experiment_by_name(name)
    experiment_id = experiment.experiment_id if experiment is not None else client.create_experiment(name)
    run = client.create_run(experiment_id)
    run_id = str(run.info.run_id)
    client.log_artifacts(run_id, str(directory), ARTIFACT_PATH)
    client.set_terminated(run_id)
    return f"{run.info.artifact_uri}/{ARTIFACT_PATH}", run_id


def publish(client: Registry, values: Mapping[str, str], not_found: type[Exception]) -> Published:
    """Register `MODEL_URI` as a new version of `MODEL_NAME` and move `ALIAS` to it.

    `not_found` is the client's exception type; an unknown registered model is one with error code
    `RESOURCE_DOES_NOT_EXIST`. A model version's
    alias names exactly one version; setting it again moves it (MLflow docs, "MLflow Model Registry",
    "Deploy and Organize Models with Aliases and Tags"; `MlflowClient.set_registered_model_alias`,
    MLflow >= 2.3).
    """
    name, uri, alias = values["MODEL_NAME"], values["MODEL_URI"], values["ALIAS"]
    _ensure_registered_model(client, name, not_found)
    run_id: str | None = None
    source = uri
    if not _is_remote(uri):
        directory = Path(uri.removeprefix("file://"))
        if not directory.is_dir():
            raise FileNotFoundError(f"MODEL_URI {uri!r} is neither a registry URI nor a directory")
        source, run_id = _upload(client, name, directory)
    version = client.create_model_version(name, source, run_id=run_id)
    client.set_registered_model_alias(name, alias, str(version.version))
    return Published(name=name, version=str(version.version), alias=alias, source=source)


def main() -> int:
    try:
        values = settings(os.environ)
    except MissingEnvironment as missing:
        print(f"publish: set {missing} (the publish step's environment contract)", file=sys.stderr)
        return 2
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    # MlflowClient reads MLFLOW_TRACKING_URI from the environment (MLflow docs, "Where Runs Are Recorded").
    published = publish(MlflowClient(), values, MlflowException)
    print(json.dumps(published.__dict__, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
