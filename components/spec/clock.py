"""The plan time: the moment a plan is made, against which capacity-block end times are judged.

The real clock, unless `AIFACTORY_PLAN_TIME` holds an ISO 8601 time with a zone (a reproducible
plan, or a test of a date-dependent rule). One home, so every rule reads the same moment.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from .errors import ConfigError, ConfigIssue

PLAN_TIME_ENV = "AIFACTORY_PLAN_TIME"


def plan_time() -> datetime:
    text = os.environ.get(PLAN_TIME_ENV)
    if not text:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ConfigError(
            [
                ConfigIssue(
                    PLAN_TIME_ENV,
                    f"'{text}' is not an ISO 8601 time with a zone",
                    "unset it or write e.g. 2026-12-01T00:00:00Z",
                )
            ]
        )
    return moment
