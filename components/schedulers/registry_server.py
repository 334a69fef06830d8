"""Start the MLflow tracking server with the database password from Secrets Manager.

The container runs `python server.py <mlflow server arguments>`. RDS keeps the database's master
password in a Secrets Manager secret it manages and rotates, as JSON with `username` and `password`
(RDS user guide, "Password management with Amazon RDS and AWS Secrets Manager"). This program reads it
with the pod's EKS Pod Identity credentials (boto3 picks up the container credentials the Pod Identity
agent serves: EKS user guide, "Use pod identity with the AWS SDK"), puts the password in `PGPASSWORD`,
which libpq uses when the connection URI carries none (PostgreSQL docs, "libpq Environment
Variables"), and replaces itself with `mlflow <arguments>`. The password never appears in the pod
spec, a Kubernetes Secret or the process arguments. A rotated password is read at the next start; the
server's open connections keep working until then.

Environment: `AIFACTORY_DB_SECRET_ARN` (the secret), `AWS_DEFAULT_REGION`.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

SECRET_ENV = "AIFACTORY_DB_SECRET_ARN"
PASSWORD_ENV = "PGPASSWORD"


def database_password(secret_string: str) -> str:
    value = json.loads(secret_string)
    if not isinstance(value, dict) or not isinstance(value.get("password"), str):
        raise ValueError("the database secret is not RDS's JSON with a `password`")
    return str(value["password"])


def server_environment(
    environ: Mapping[str, str], get_secret_value: Callable[..., Mapping[str, Any]]
) -> dict[str, str]:
    """The environment `mlflow server` runs with: this one plus `PGPASSWORD` from the secret."""
    arn = environ.get(SECRET_ENV)
    if not arn:
        raise KeyError(f"{SECRET_ENV} is not set")
    response = get_secret_value(SecretId=arn)
    return {**environ, PASSWORD_ENV: database_password(str(response["SecretString"]))}


def main(argv: Sequence[str]) -> None:
    import boto3

    client = boto3.client("secretsmanager")
    environment = server_environment(os.environ, client.get_secret_value)
    os.execvpe("mlflow", ["mlflow", *argv], environment)


if __name__ == "__main__":
    main(sys.argv[1:])
