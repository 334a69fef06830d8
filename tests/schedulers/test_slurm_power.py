"""The head's ResumeProgram/SuspendProgram/hold (`slurm_power`) against moto's EC2."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest
from aifactory.planning.topology_model import compress_hostlist
from aifactory.schedulers import slurm_power
from aifactory.schedulers.slurm_power import (
    CLUSTER_TAG,
    NODE_NAME_TAG,
    Domain,
    NodeMap,
    PowerError,
    ResumeJob,
    expand_hostlist,
    fleet_request,
    hold,
    load_map,
    parse_resume_file,
    resume,
    suspend,
)
from moto import mock_aws

REGION = "us-east-1"
CLUSTER = "aif-test"

# SLURM_RESUME_FILE as the releases write it: 22.05 (the shape Debian's slurmctld 22.05.8 wrote in
# test_slurmctld's recording ResumeProgram) and 23.02+ (the Cloud Scheduling Guide's example, with
# `extra` and `reservation`).
RESUME_2205 = {"all_nodes": "train-[0001-0003]", "jobs": [{"job_id": 7, "nodes": "train-[0001-0003]"}]}
RESUME_2302 = {
    "all_nodes_resume": "train-[0001-0004],eval-0001",
    "jobs": [
        {
            "extra": "An arbitrary string from --extra",
            "features": "c1,c2",
            "job_id": 140814,
            "nodes_alloc": "train-[0001-0004]",
            "nodes_resume": "train-[0001-0002]",
            "oversubscribe": "OK",
            "partition": "train",
            "reservation": "resv_1234",
        },
        {
            "extra": None,
            "features": None,
            "job_id": 140815,
            "nodes_alloc": "train-[0002-0004]",
            "nodes_resume": "train-[0002-0004]",
            "oversubscribe": "OK",
            "partition": "train",
            "reservation": None,
        },
    ],
}


def test_hostlists_expand_as_the_plan_compresses_them() -> None:
    names = [f"train-{n:04d}" for n in (*range(1, 40), 41, 100)] + ["eval-01", "head"]
    assert sorted(expand_hostlist(compress_hostlist(names))) == sorted(names)
    assert expand_hostlist("gpu-[8-11]") == ["gpu-8", "gpu-9", "gpu-10", "gpu-11"]
    assert expand_hostlist("") == []


@pytest.mark.parametrize("bad", ["gpu-[3-1]", "gpu-[a-b]", "gpu-[1-2", "GPU_1", "gpu-[1-2]x[3]"])
def test_malformed_hostlists_are_refused(bad: str) -> None:
    with pytest.raises(PowerError):
        expand_hostlist(bad)


def test_resume_file_of_22_05_is_one_job() -> None:
    assert parse_resume_file(RESUME_2205, ["train-0001"]) == [ResumeJob(7, ("train-0001", "train-0002", "train-0003"))]


def test_resume_file_of_23_02_splits_shared_nodes_and_keeps_jobless_ones() -> None:
    jobs = parse_resume_file(RESUME_2302, [])
    assert jobs == [
        ResumeJob(140814, ("train-0001", "train-0002")),
        ResumeJob(140815, ("train-0003", "train-0004")),
        ResumeJob(None, ("eval-0001",)),
    ]


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"jobs": []},
        {"all_nodes_resume": "a-1"},
        {"all_nodes_resume": "a-1", "jobs": [{"job_id": "7", "nodes_resume": "a-1"}]},
        {"all_nodes_resume": "a-1", "jobs": [{"job_id": True, "nodes_resume": "a-1"}]},
        {"all_nodes_resume": "a-1", "jobs": [{"job_id": 7}]},
        {"all_nodes_resume": "a-1", "jobs": [{"job_id": 7, "nodes": "a-1"}]},
        {"all_nodes": "a-1", "jobs": [{"job_id": 7, "nodes_resume": "a-1"}]},
        {"all_nodes_resume": "a-1", "jobs": ["a-1"]},
    ],
)
def test_resume_files_it_cannot_read_are_refused(document: Any) -> None:
    with pytest.raises(PowerError):
        parse_resume_file(document, [])


def _domain(name: str, nodes: Sequence[str], template: str, capacity: str, reservation: str | None = None) -> Domain:
    return Domain(name, tuple(nodes), template, "1", capacity, reservation)


def test_fleet_request_is_all_or_nothing_for_each_capacity_type() -> None:
    reserved = fleet_request(_domain("d0", ["a-1"], "lt-1", "capacity-reservation", "cr-1"), 4, CLUSTER, 9)
    assert reserved["Type"] == "instant"
    assert reserved["TargetCapacitySpecification"] == {
        "TotalTargetCapacity": 4,
        "DefaultTargetCapacityType": "on-demand",
    }
    assert reserved["OnDemandOptions"] == {
        "SingleInstanceType": True,
        "SingleAvailabilityZone": True,
        "MinTargetCapacity": 4,
        "CapacityReservationOptions": {"UsageStrategy": "use-capacity-reservations-first"},
    }
    block = fleet_request(_domain("d0", ["a-1"], "lt-1", "capacity-block", "cr-2"), 2, CLUSTER, None)
    assert block["TargetCapacitySpecification"]["DefaultTargetCapacityType"] == "capacity-block"
    assert "CapacityReservationOptions" not in block["OnDemandOptions"]
    spot = fleet_request(_domain("d0", ["a-1"], "lt-1", "spot"), 3, CLUSTER, 1)
    assert spot["SpotOptions"]["MinTargetCapacity"] == 3 and "OnDemandOptions" not in spot
    tags = {t["Key"]: t["Value"] for t in spot["TagSpecifications"][0]["Tags"]}
    assert tags[CLUSTER_TAG] == CLUSTER and spot["TagSpecifications"][0]["ResourceType"] == "instance"


@pytest.fixture
def ec2() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("ec2", region_name=REGION)
        yield client


def _template(ec2: Any, name: str) -> str:
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    return str(
        ec2.create_launch_template(
            LaunchTemplateName=f"lt-{name}", LaunchTemplateData={"ImageId": image, "InstanceType": "p5.48xlarge"}
        )["LaunchTemplate"]["LaunchTemplateId"]
    )


class Recorder:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, args: Sequence[str]) -> None:
        self.calls.append(list(args))


def _running(ec2: Any) -> dict[str, str]:
    out = {}
    for reservation in ec2.describe_instances()["Reservations"]:
        for instance in reservation["Instances"]:
            if instance["State"]["Name"] == "terminated":
                continue
            tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
            out[tags.get(NODE_NAME_TAG, "?")] = tags[CLUSTER_TAG]
    return out


def test_resume_launches_each_jobs_nodes_per_domain_and_tags_them(ec2: Any) -> None:
    node_map = NodeMap(
        CLUSTER,
        REGION,
        (
            _domain("train-d0", ["train-0001", "train-0002"], _template(ec2, "d0"), "capacity-reservation", "cr-1"),
            _domain("train-d1", ["train-0003", "train-0004"], _template(ec2, "d1"), "on-demand"),
        ),
    )
    scontrol = Recorder()
    launched = resume(parse_resume_file(RESUME_2302, []), node_map, ec2, scontrol)
    assert set(launched) == {"train-0001", "train-0002", "train-0003", "train-0004"}
    assert _running(ec2) == dict.fromkeys(launched, CLUSTER)
    # eval-0001 is in no domain of the map: down with a reason, nothing launched for it.
    assert scontrol.calls == [
        ["update", "NodeName=eval-0001", "State=DOWN", "Reason=aifactory: not a CLOUD node of the plan's map"]
    ]

    assert sorted(suspend(["train-0001", "train-0003", "elsewhere-1"], node_map, ec2)) == sorted(
        [launched["train-0001"], launched["train-0003"]]
    )
    assert set(_running(ec2)) == {"train-0002", "train-0004"}


def test_a_job_whose_domain_does_not_launch_gets_nothing(ec2: Any) -> None:
    # moto launches nothing for a capacity-block fleet, as EC2 does for a block that is not active.
    node_map = NodeMap(
        CLUSTER,
        REGION,
        (
            _domain("train-d0", ["train-0001", "train-0002"], _template(ec2, "d0"), "on-demand"),
            _domain("train-d1", ["train-0003", "train-0004"], _template(ec2, "d1"), "capacity-block", "cr-9"),
        ),
    )
    scontrol = Recorder()
    job = ResumeJob(12, ("train-0001", "train-0002", "train-0003"))
    assert resume([job], node_map, ec2, scontrol) == {}
    assert _running(ec2) == {}  # the on-demand domain's two instances were terminated again
    (call,) = scontrol.calls
    assert call[:3] == ["update", "NodeName=train-0001,train-0002,train-0003", "State=DOWN"]
    assert "job 12" in call[3] and "train-d1" in call[3]


def test_hold_keeps_a_capacity_blocks_nodes_until_it_is_active(ec2: Any) -> None:
    domain = _domain("cb-d0", ["cb-01", "cb-02"], "lt-x", "capacity-block", "cr-0123456789abcdef0")
    node_map = NodeMap(CLUSTER, REGION, (domain, _domain("od", ["od-1"], "lt-y", "on-demand")))

    class Blocks:
        state = "scheduled"

        def describe_capacity_reservations(self, CapacityReservationIds: list[str]) -> dict[str, Any]:
            return {
                "CapacityReservations": [
                    {"CapacityReservationId": i, "State": self.state} for i in CapacityReservationIds
                ]
            }

    blocks, scontrol, held = Blocks(), Recorder(), set[str]()
    assert hold(node_map, blocks, scontrol, lambda name: name in held) == {"cr-0123456789abcdef0": "scheduled"}
    name = "capacity-block-hold-cr-0123456789abcdef0"
    assert scontrol.calls[0][:3] == ["create", "reservation", f"ReservationName={name}"]
    assert "Nodes=cb-01,cb-02" in scontrol.calls[0] and "Flags=MAINT,IGNORE_JOBS" in scontrol.calls[0]
    held.add(name)
    hold(node_map, blocks, scontrol, lambda n: n in held)
    assert len(scontrol.calls) == 1  # already held: nothing to do
    blocks.state = "active"
    hold(node_map, blocks, scontrol, lambda n: n in held)
    assert scontrol.calls[1] == ["delete", f"ReservationName={name}"]


def test_main_reads_the_map_and_the_resume_file(ec2: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    template = _template(ec2, "d0")
    node_map = {
        "cluster": CLUSTER,
        "region": REGION,
        "domains": [
            {
                "name": "train-d0",
                "nodes": "train-[0001-0003]",
                "launchTemplateId": template,
                "launchTemplateVersion": "1",
                "capacity": "on-demand",
                "reservationId": None,
            }
        ],
    }
    (tmp_path / "map.json").write_text(json.dumps(node_map))
    (tmp_path / "resume.json").write_text(json.dumps(RESUME_2205))
    monkeypatch.setenv("SLURM_RESUME_FILE", str(tmp_path / "resume.json"))
    assert slurm_power.main(["--map", str(tmp_path / "map.json"), "resume", "train-[0001-0003]"], ec2=ec2) == 0
    assert set(_running(ec2)) == {"train-0001", "train-0002", "train-0003"}
    assert slurm_power.main(["--map", str(tmp_path / "map.json"), "suspend", "train-[0001-0003]"], ec2=ec2) == 0
    assert _running(ec2) == {}


def test_a_map_with_an_unknown_capacity_type_is_refused() -> None:
    with pytest.raises(PowerError, match="capacity type"):
        load_map(
            {
                "cluster": CLUSTER,
                "region": REGION,
                "domains": [
                    {
                        "name": "d",
                        "nodes": "a-1",
                        "launchTemplateId": "lt",
                        "launchTemplateVersion": "1",
                        "capacity": "x",
                    }
                ],
            }
        )
    with pytest.raises(PowerError, match="lacks"):
        load_map({"cluster": CLUSTER, "domains": []})
