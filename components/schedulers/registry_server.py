"""Run the MLflow tracking server with the database password from Secrets Manager.

The container runs `python server.py <mlflow server arguments>`. RDS keeps the database's master
password in a Secrets Manager secret it manages and rotates, as JSON with `username` and `password`
(RDS user guide, "Password management with Amazon RDS and AWS Secrets Manager"). This program reads it
with the pod's EKS Pod Identity credentials (boto3 takes the container credentials the Pod Identity
agent serves: EKS user guide, "Use pod identity with the AWS SDK"), puts the password in `PGPASSWORD`,
which libpq uses when the connection URI carries none (PostgreSQL docs, "libpq Environment
Variables"), and runs `mlflow <arguments>` as its child. The password never appears in the pod spec, a
Kubernetes Secret or the process arguments.

RDS rotates the password (every 7 days by default); connections already open keep working, new ones
need the new password. So every `CHECK_SECONDS` the secret is read again, and when the password
changed the server is stopped and this program exits with `ROTATED`: the kubelet restarts the
container (restart policy Always), which starts again with the new password. SIGTERM (a rollout, a
drain) is passed on to the server.

Environment: `AIFACTORY_DB_SECRET_ARN` (the secret), `AWS_DEFAULT_REGION`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

SECRET_ENV = "AIFACTORY_DB_SECRET_ARN"
PASSWORD_ENV = "PGPASSWORD"
CHECK_SECONDS = 300
ROTATED = 75
"""Exit status after a rotation (EX_TEMPFAIL, sysexits.h): restart and try again."""


class Server(Protocol):
    """The part of `subprocess.Popen` this program uses."""

    def wait(self, timeout: float | None = None) -> int: ...
    def terminate(self) -> None: ...
    def send_signal(self, sig: int) -> None: ...


def database_password(secret_string: str) -> str:
    value = json.loads(secret_string)
    if not isinstance(value, dict) or not isinstance(value.get("password"), str):
        raise ValueError("the database secret is not RDS's JSON with a `password`")
    return str(value["password"])


def read_password(environ: Mapping[str, str], get_secret_value: Callable[..., Mapping[str, Any]]) -> str:
    arn = environ.get(SECRET_ENV)
    if not arn:
        raise KeyError(f"{SECRET_ENV} is not set")
    return database_password(str(get_secret_value(SecretId=arn)["SecretString"]))


def supervise(
    argv: Sequence[str],
    environ: Mapping[str, str],
    get_secret_value: Callable[..., Mapping[str, Any]],
    start: Callable[[list[str], dict[str, str]], Server],
    check_seconds: float = CHECK_SECONDS,
) -> int:
    """Start `mlflow <argv>` with the password and watch the secret; the server's exit status, or
    `ROTATED` once the password changed and the server was stopped."""
    password = read_password(environ, get_secret_value)
    server = start(["mlflow", *argv], {**environ, PASSWORD_ENV: password})
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: server.send_signal(signum))
    try:
        while True:
            try:
                return server.wait(timeout=check_seconds)
            except subprocess.TimeoutExpired:
                pass
            if read_password(environ, get_secret_value) != password:
                print("server: the database password was rotated; restarting", file=sys.stderr)
                server.terminate()
                server.wait()
                return ROTATED
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str]) -> int:
    import boto3

    client = boto3.client("secretsmanager")
    return supervise(argv, os.environ, client.get_secret_value, lambda cmd, env: subprocess.Popen(cmd, env=env))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
