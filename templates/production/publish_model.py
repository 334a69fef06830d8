"""Publish one evaluated model version to the MLflow registry and point an alias at it.

Contract (environment, all required): MLFLOW_TRACKING_URI (the registry's tracking server),
MODEL_NAME (registered model, the line's name), MODEL_DIR (the trained model's directory on the
shared file system), ALIAS (moved to the new version), METRIC_NAME and METRICS_JSON (the evaluation's
metrics object, its METRIC_NAME logged with the run), RUN_NAME (the workflow's name) and
OUTPUT_FILE (where the new version's `models:/<name>/<version>` URI is written for the next step).

The directory is logged as the artifacts of a run and registered from `runs:/<run>/model`: the
tracking server refuses a bare local path as a model version's source (MLflow docs, "MLflow Model
Registry": `mlflow.register_model`; `MlflowClient.set_registered_model_alias`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import mlflow
from mlflow import MlflowClient


def main() -> None:
    name = os.environ["MODEL_NAME"]
    alias = os.environ["ALIAS"]
    metric = os.environ["METRIC_NAME"]
    metrics = json.loads(os.environ["METRICS_JSON"])
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    mlflow.set_experiment(name)
    with mlflow.start_run(run_name=os.environ["RUN_NAME"]) as run:
        mlflow.log_metric(metric, float(metrics[metric]))
        mlflow.log_artifacts(os.environ["MODEL_DIR"], artifact_path="model")
    version = mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
    MlflowClient().set_registered_model_alias(name, alias, version.version)
    Path(os.environ["OUTPUT_FILE"]).write_text(f"models:/{name}/{version.version}")


if __name__ == "__main__":
    main()
