"""`aifactory:storage.accessLogBucket`: the created data repository bucket logs its access ([S3.9])."""

from __future__ import annotations

from aifactory.cli.planrun import plan_stack


def test_sovereign_eu_logs_its_bucket_into_the_configured_log_bucket() -> None:
    result = plan_stack("sovereign-eu").as_json()
    buckets = [r for r in result["resources"] if r["type"] == "aws:s3/bucket:Bucket"]
    logging = [r for r in result["resources"] if r["type"] == "aws:s3/bucketLogging:BucketLogging"]
    assert [b["inputs"]["bucket"] for b in buckets] == ["aifactory-sovereign-eu-data"]
    assert [(r["inputs"]["targetBucket"], r["inputs"]["targetPrefix"]) for r in logging] == [
        ("aifactory-sovereign-eu-access-logs", "aifactory-sovereign-eu-data/")
    ]
    assert result["policy"]["violations"] == []
