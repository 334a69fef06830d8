"""Slurm power saving on EC2: the head's ResumeProgram, SuspendProgram and capacity-block hold.

slurmctld runs this file as SlurmUser for its `State=CLOUD` nodes. Standard library and boto3 only.

* `resume HOSTLIST`: reads SLURM_RESUME_FILE (slurm.conf(5) ResumeProgram: "A job to node mapping
  is available in JSON format"; `parse_resume_file`), groups each job's nodes by placement domain
  (`--map`) and calls CreateFleet `Type=instant` per job and domain, all or nothing:
  `MinTargetCapacity` = count, `SingleAvailabilityZone`, `SingleInstanceType` (EC2 API reference,
  OnDemandOptionsRequest/SpotOptionsRequest: below the minimum "the fleet launches no instances").
  Reservations: On-Demand, `UsageStrategy=use-capacity-reservations-first`
  (CapacityReservationOptionsRequest); blocks: `DefaultTargetCapacityType=capacity-block`
  (TargetCapacitySpecificationRequest); the launch template targets either. The cluster tag comes
  at launch (TagSpecifications `instance`, instant only), then each instance its node name, which
  its join reads from instance metadata. No `scontrol update nodeaddr`: with `cloud_reg_addrs`
  slurmd's registration sets NodeAddr (slurm.conf(5) SlurmctldParameters). A job whose domains do
  not all launch gets nothing: launches are terminated and its nodes set DOWN with the reason,
  which requeues the job (slurm.conf(5) ResumeProgram).
* `suspend HOSTLIST`: terminates the instances tagged with those node names in this cluster.
* `hold`: a capacity block's nodes sit in a maintenance reservation until DescribeCapacityReservations
  says `active`, as AWS ParallelCluster does (aws-parallelcluster-node,
  `slurm_plugin/capacity_block_manager.py`).
* `nodes`: prints the map's node names as a JSON list (the topology refresh's input).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

NODE_NAME_TAG = "aifactory:slurm-node"
CLUSTER_TAG = "aifactory:slurm-cluster"
HOLD_PREFIX = "capacity-block-hold-"
CAPACITY_TYPES = ("on-demand", "spot", "capacity-reservation", "capacity-block")

# EC2 API reference: TerminateInstances "InstanceId.N ... Up to 1000 instance IDs"; the tag filter's
# values are sent in pages of 200 (EC2 user guide, "Filter resources": at most 200 values a filter).
FILTER_VALUES = 200
TERMINATE_BATCH = 1000

_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")
HOSTLIST_RANGE = re.compile(r"^([0-9]+)(?:-([0-9]+))?\Z")
"""One item inside a hostlist's brackets: a number or a range `first-last`."""

Scontrol = Callable[[Sequence[str]], None]


class PowerError(ValueError):
    """The resume file, the map or a hostlist cannot be read."""


def expand_hostlist(hostlist: str) -> list[str]:
    """Slurm's hostlist notation (`gpu-[001-003,007],head`) to names, in order; one bracket per name,
    as slurm.conf's NodeName lines and the plan write them."""
    names: list[str] = []
    for part in (p for p in split_hostlist(hostlist) if p):
        if "[" not in part:
            names.append(_host(part))
            continue
        prefix, _, rest = part.partition("[")
        body, closed, suffix = rest.partition("]")
        if not closed or not body or "[" in rest or "]" in suffix:
            raise PowerError(f"hostlist {hostlist!r}: {part!r} is not prefix[ranges]suffix")
        for piece in body.split(","):
            match = HOSTLIST_RANGE.match(piece)
            if not match:
                raise PowerError(f"hostlist {hostlist!r}: {piece!r} is not a number or a range")
            first, last = match.group(1), match.group(2) or match.group(1)
            if int(last) < int(first):
                raise PowerError(f"hostlist {hostlist!r}: range {piece!r} runs backwards")
            width = len(first) if first.startswith("0") else 0
            names.extend(_host(f"{prefix}{n:0{width}d}{suffix}") for n in range(int(first), int(last) + 1))
    return names


def split_hostlist(hostlist: str) -> list[str]:
    """A hostlist's comma-separated parts, keeping the commas inside brackets (empty parts kept)."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(hostlist):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(hostlist[start:i])
            start = i + 1
    parts.append(hostlist[start:])
    return parts


def _host(name: str) -> str:
    if not _HOST.match(name):
        raise PowerError(f"{name!r} is not a Slurm node name of this cluster (an RFC 1123 label)")
    return name


@dataclass(frozen=True)
class ResumeJob:
    """One job's nodes to power up; `job_id` None for nodes resumed without a job (`scontrol power up`)."""

    job_id: int | None
    nodes: tuple[str, ...]


def parse_resume_file(document: Any, argv_nodes: Sequence[str]) -> list[ResumeJob]:
    """The jobs of a `SLURM_RESUME_FILE` document, and the argument's nodes no job claims.

    Two shapes: 22.05 writes `all_nodes` and `jobs[].job_id`/`jobs[].nodes` (recorded from Debian's
    slurmctld 22.05.8 by tests/schedulers/test_slurmctld.py); 23.02 on `all_nodes_resume` and
    `jobs[].nodes_resume` (Cloud Scheduling Guide), with more keys that are not read. Anything else
    is refused rather than guessed at."""
    if not isinstance(document, dict):
        raise PowerError("the resume file is not a JSON object")
    all_key, nodes_key = (
        ("all_nodes_resume", "nodes_resume") if "all_nodes_resume" in document else ("all_nodes", "nodes")
    )
    if not isinstance(document.get(all_key), str):
        raise PowerError("the resume file has neither an all_nodes_resume (23.02+) nor an all_nodes (22.05) hostlist")
    jobs = document.get("jobs")
    if not isinstance(jobs, list):
        raise PowerError("the resume file has no jobs list")
    out: list[ResumeJob] = []
    claimed: set[str] = set()
    for k, job in enumerate(jobs):
        if not isinstance(job, dict):
            raise PowerError(f"jobs[{k}] is not an object")
        job_id, nodes = job.get("job_id"), job.get(nodes_key)
        if isinstance(job_id, bool) or not isinstance(job_id, int) or not isinstance(nodes, str):
            raise PowerError(f"jobs[{k}] lacks a numeric job_id or a {nodes_key} hostlist")
        # A node shared by two jobs (OverSubscribe) is launched once, for the first.
        mine = tuple(n for n in expand_hostlist(nodes) if n not in claimed)
        claimed.update(mine)
        if mine:
            out.append(ResumeJob(job_id, mine))
    every = dict.fromkeys([*argv_nodes, *expand_hostlist(document[all_key])])
    rest = tuple(n for n in every if n not in claimed)
    if rest:
        out.append(ResumeJob(None, rest))
    return out


@dataclass(frozen=True)
class Domain:
    """One placement domain: its launch template and capacity, and its nodes."""

    name: str
    nodes: tuple[str, ...]
    launch_template_id: str
    launch_template_version: str
    capacity: str
    reservation_id: str | None


@dataclass(frozen=True)
class NodeMap:
    cluster: str
    region: str
    domains: tuple[Domain, ...]

    def domain_of(self) -> dict[str, Domain]:
        return {n: d for d in self.domains for n in d.nodes}


def load_map(document: Any) -> NodeMap:
    """The plan's map: `{"cluster", "region", "domains": [{"name", "nodes" (hostlist), "launchTemplateId",
    "launchTemplateVersion", "capacity", "reservationId"}]}`."""
    try:
        domains = tuple(
            Domain(
                name=str(d["name"]),
                nodes=tuple(expand_hostlist(str(d["nodes"]))),
                launch_template_id=str(d["launchTemplateId"]),
                launch_template_version=str(d["launchTemplateVersion"]),
                capacity=str(d["capacity"]),
                reservation_id=str(d["reservationId"]) if d.get("reservationId") else None,
            )
            for d in document["domains"]
        )
        cluster, region = str(document["cluster"]), str(document["region"])
    except (KeyError, TypeError) as error:
        raise PowerError(f"the node map lacks {error}") from error
    bad = [d.name for d in domains if d.capacity not in CAPACITY_TYPES]
    if bad:
        raise PowerError(f"domains {bad} have a capacity type outside {CAPACITY_TYPES}")
    return NodeMap(cluster, region, domains)


def fleet_request(domain: Domain, count: int, cluster: str, job_id: int | None) -> dict[str, Any]:
    """CreateFleet's arguments for `count` nodes of one domain, all or nothing."""
    all_or_nothing = {"SingleInstanceType": True, "SingleAvailabilityZone": True, "MinTargetCapacity": count}
    default = {"capacity-block": "capacity-block", "spot": "spot"}.get(domain.capacity, "on-demand")
    request: dict[str, Any] = {
        "Type": "instant",
        "LaunchTemplateConfigs": [
            {
                "LaunchTemplateSpecification": {
                    "LaunchTemplateId": domain.launch_template_id,
                    "Version": domain.launch_template_version,
                }
            }
        ],
        "TargetCapacitySpecification": {"TotalTargetCapacity": count, "DefaultTargetCapacityType": default},
        "TagSpecifications": [
            {
                "ResourceType": "instance",
                "Tags": [
                    {"Key": CLUSTER_TAG, "Value": cluster},
                    {"Key": "aifactory:slurm-domain", "Value": domain.name},
                    {"Key": "aifactory:slurm-job", "Value": str(job_id) if job_id is not None else "none"},
                ],
            }
        ],
    }
    if domain.capacity == "spot":
        request["SpotOptions"] = all_or_nothing
    else:
        request["OnDemandOptions"] = dict(all_or_nothing)
        if domain.capacity == "capacity-reservation":
            request["OnDemandOptions"]["CapacityReservationOptions"] = {
                "UsageStrategy": "use-capacity-reservations-first"
            }
    return request


def _instance_ids(response: Mapping[str, Any]) -> list[str]:
    return [i for group in response.get("Instances") or [] for i in group.get("InstanceIds") or []]


def _errors(response: Mapping[str, Any]) -> str:
    errors = {f"{e.get('ErrorCode')}: {e.get('ErrorMessage')}" for e in response.get("Errors") or []}
    return "; ".join(sorted(errors)) or "EC2 launched fewer instances than asked"


def _scontrol(args: Sequence[str]) -> None:
    subprocess.run(["scontrol", *args], check=True, timeout=60)


def _mark_down(nodes: Sequence[str], reason: str, scontrol: Scontrol) -> None:
    # scontrol(1) update: Reason is one word; the hostlist is expanded by slurmctld.
    scontrol(["update", f"NodeName={','.join(nodes)}", "State=DOWN", f"Reason=aifactory: {reason}"[:200]])


def resume(jobs: Sequence[ResumeJob], node_map: NodeMap, ec2: Any, scontrol: Scontrol = _scontrol) -> dict[str, str]:
    """Launch every job's nodes; node -> instance id of what launched. A job's nodes launch together
    or not at all."""
    of = node_map.domain_of()
    launched: dict[str, str] = {}
    for job in jobs:
        unknown = [n for n in job.nodes if n not in of]
        if unknown:
            _mark_down(unknown, "not a CLOUD node of the plan's map", scontrol)
        by_domain: dict[str, list[str]] = {}
        for node in job.nodes:
            if node in of:
                by_domain.setdefault(of[node].name, []).append(node)
        domains = {d.name: d for d in node_map.domains}
        got: dict[str, list[str]] = {}
        failure = None
        for name, nodes in by_domain.items():
            try:
                response = ec2.create_fleet(**fleet_request(domains[name], len(nodes), node_map.cluster, job.job_id))
            except Exception as error:  # botocore's ClientError, throttling, endpoint errors alike
                failure = f"CreateFleet for {name} failed: {error}"
                break
            ids = _instance_ids(response)
            got[name] = ids
            if len(ids) < len(nodes):
                failure = f"CreateFleet for {name}: {_errors(response)}"
                break
        every = [i for ids in got.values() for i in ids]
        if failure is not None:
            for start in range(0, len(every), TERMINATE_BATCH):
                ec2.terminate_instances(InstanceIds=every[start : start + TERMINATE_BATCH])
            nodes = [n for ns in by_domain.values() for n in ns]
            _mark_down(nodes, f"job {job.job_id}: {failure}", scontrol)
            print(f"aifactory-resume: job {job.job_id}: {failure}", file=sys.stderr)
            continue
        for name, nodes in by_domain.items():
            for node, instance in zip(sorted(nodes), got[name], strict=False):
                ec2.create_tags(
                    Resources=[instance], Tags=[{"Key": NODE_NAME_TAG, "Value": node}, {"Key": "Name", "Value": node}]
                )
                launched[node] = instance
    return launched


def instances_of(nodes: Sequence[str], cluster: str, ec2: Any) -> dict[str, list[str]]:
    """Node name -> ids of this cluster's instances that carry it and are not terminated."""
    found: dict[str, list[str]] = {}
    for start in range(0, len(nodes), FILTER_VALUES):
        filters = [
            {"Name": f"tag:{CLUSTER_TAG}", "Values": [cluster]},
            {"Name": f"tag:{NODE_NAME_TAG}", "Values": list(nodes[start : start + FILTER_VALUES])},
            {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
        ]
        for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
            for reservation in page.get("Reservations") or []:
                for instance in reservation.get("Instances") or []:
                    tags = {t["Key"]: t["Value"] for t in instance.get("Tags") or []}
                    found.setdefault(tags[NODE_NAME_TAG], []).append(instance["InstanceId"])
    return found


def suspend(nodes: Sequence[str], node_map: NodeMap, ec2: Any) -> list[str]:
    """Terminate the instances of `nodes` (by tag); the ids terminated."""
    of = node_map.domain_of()
    ids = [i for ids in instances_of([n for n in nodes if n in of], node_map.cluster, ec2).values() for i in ids]
    for start in range(0, len(ids), TERMINATE_BATCH):
        ec2.terminate_instances(InstanceIds=ids[start : start + TERMINATE_BATCH])
    return ids


def _reservation_exists(name: str) -> bool:
    result = subprocess.run(["scontrol", "show", "reservation", name], capture_output=True, timeout=60, check=False)
    return result.returncode == 0


def hold(
    node_map: NodeMap,
    ec2: Any,
    scontrol: Scontrol = _scontrol,
    exists: Callable[[str], bool] = _reservation_exists,
) -> dict[str, str]:
    """Hold each capacity block's nodes while the block is not active; block id -> its state."""
    blocks: dict[str, list[str]] = {}
    for domain in node_map.domains:
        if domain.capacity == "capacity-block" and domain.reservation_id:
            blocks.setdefault(domain.reservation_id, []).extend(domain.nodes)
    if not blocks:
        return {}
    answer = ec2.describe_capacity_reservations(CapacityReservationIds=sorted(blocks))
    states = {r["CapacityReservationId"]: r.get("State", "") for r in answer.get("CapacityReservations") or []}
    for block, nodes in sorted(blocks.items()):
        name = f"{HOLD_PREFIX}{block}"
        held = exists(name)
        if states.get(block) == "active" and held:
            scontrol(["delete", f"ReservationName={name}"])
        elif states.get(block) != "active" and not held:
            # scontrol(1) create reservation: MAINT, IGNORE_JOBS; no end: the next run deletes it.
            scontrol(
                [
                    "create",
                    "reservation",
                    f"ReservationName={name}",
                    "StartTime=now",
                    "Duration=UNLIMITED",
                    f"Nodes={','.join(nodes)}",
                    "Users=root",
                    "Flags=MAINT,IGNORE_JOBS",
                ]
            )
    return {b: states.get(b, "unknown") for b in sorted(blocks)}


def _ec2(region: str) -> Any:
    import boto3  # the head's python3-boto3; imported here so the parsers load without it

    return boto3.client("ec2", region_name=region)


def _load_json(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def main(argv: Sequence[str] | None = None, ec2: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("resume", "suspend", "hold", "nodes"))
    parser.add_argument("--map", required=True, help="the plan's node map (JSON)")
    parser.add_argument("hostlist", nargs="?", default="")
    args = parser.parse_args(argv)
    try:
        node_map = load_map(_load_json(args.map))
        nodes = expand_hostlist(args.hostlist)
        if args.command == "nodes":
            print(json.dumps([n for d in node_map.domains for n in d.nodes]))
            return 0
        client = ec2 if ec2 is not None else _ec2(node_map.region)
        if args.command == "resume":
            resume_file = os.environ.get("SLURM_RESUME_FILE")
            jobs = parse_resume_file(_load_json(resume_file), nodes) if resume_file else [ResumeJob(None, tuple(nodes))]
            launched = resume(jobs, node_map, client)
            print(f"aifactory-resume: launched {len(launched)} of {sum(len(j.nodes) for j in jobs)} nodes")
        elif args.command == "suspend":
            print(f"aifactory-suspend: terminated {len(suspend(nodes, node_map, client))} instances")
        else:
            print(json.dumps(hold(node_map, client)))
    except (OSError, ValueError) as error:
        print(f"aifactory-{args.command}: {error}", file=sys.stderr)
        if args.command == "resume" and nodes_or_none(args.hostlist):
            _mark_down(nodes_or_none(args.hostlist), f"resume failed: {error}", _scontrol)
        return 1
    return 0


def nodes_or_none(hostlist: str) -> list[str]:
    """The argument's nodes, or none when it is not a hostlist either."""
    try:
        return expand_hostlist(hostlist)
    except PowerError:
        return []


if __name__ == "__main__":
    sys.exit(main())
