"""One plan per `aifactory plan`: placement and sizing run once, and what `render` writes for review is
what the deployed resources carry (cluster name, node names, partitions, node groups)."""

from __future__ import annotations

import base64
import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest
from aifactory import network
from aifactory.cli.main import main
from aifactory.cli.planrun import PlanResult, plan_stack
from aifactory.planning import feasibility, network_plan, placement, storage_sizing
from aifactory.planning.topology_model import compress_hostlist
from aifactory.schedulers import kubernetes_manifests
from aifactory.schedulers.slurm_power import load_map

from tests.stackfiles import EXAMPLE_STACKS

EXAMPLES = list(EXAMPLE_STACKS)


@pytest.mark.parametrize("stack", EXAMPLES)
def test_placement_and_sizing_run_once_per_plan(stack: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"placement": 0, "sizing": 0, "quotas": 0, "subnets": 0}
    # Counted where the work happens (every public entry point goes through these module globals),
    # so a second caller anywhere in the program is seen.
    for site in ("_plan_aws", "_plan_datahall"):
        original = getattr(placement, site)

        def counted(*args: Any, _original: Any = original) -> Any:
            calls["placement"] += 1
            return _original(*args)

        monkeypatch.setattr(placement, site, counted)

    class CountedSizing(storage_sizing.FilesystemSizing):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            calls["sizing"] += 1
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(storage_sizing, "FilesystemSizing", CountedSizing)

    allocate = kubernetes_manifests.allocate_quotas

    def counted_quotas(*args: Any) -> Any:
        calls["quotas"] += 1
        return allocate(*args)

    for module in (kubernetes_manifests, feasibility):
        monkeypatch.setattr(module, "allocate_quotas", counted_quotas)

    split = network_plan.plan_subnets

    def counted_subnets(*args: Any, **kwargs: Any) -> Any:
        calls["subnets"] += 1
        return split(*args, **kwargs)

    for module in (network_plan, feasibility, network):
        monkeypatch.setattr(module, "plan_subnets", counted_subnets)
    assert main(["plan", stack]) == 0
    result = plan_stack(stack)  # the same again: counts double, never more
    assert calls["placement"] == 2
    assert calls["subnets"] == 2
    assert calls["sizing"] == (2 if result.spec.storage is not None else 0)
    queues = (
        result.spec.scheduler is not None
        and result.spec.scheduler.kind == "kubernetes"
        and result.spec.scheduler.queues
    )
    assert calls["quotas"] == (2 if queues else 0)


def _by_type(result: PlanResult, kind: str) -> list[Any]:
    return [r for r in result.resources if r.type == kind]


def _head_files(result: PlanResult) -> dict[str, str]:
    """The files the Slurm head's first boot writes to /etc/slurm (quoted heredocs in its user data)."""
    (head,) = [r for r in _by_type(result, "aws:ec2/instance:Instance") if r.name.endswith("-slurm-head")]
    script = gzip.decompress(base64.b64decode(head.inputs["userDataBase64"])).decode()
    blocks = re.findall(r"cat >'/etc/slurm/([^'\s]+)' <<'AIFACTORY_FILE'\n(.*?)\nAIFACTORY_FILE", script, re.S)
    return {name: text + "\n" for name, text in blocks}


def test_render_writes_the_slurm_configuration_the_head_is_deployed_with(tmp_path: Path) -> None:
    assert main(["render", "slurm-aws", "--out", str(tmp_path)]) == 0
    result = plan_stack("slurm-aws")
    deployed = _head_files(result)
    assert {"slurm.conf", "topology.conf", "gres.conf"} <= set(deployed)
    # The head also gets the per-domain map its power programs and topology refresh read: input, not
    # configuration. It names every planned node, each in its placement domain.
    node_map = load_map(json.loads(deployed.pop("aifactory-domains.json")))
    assert {n: d.name for d in node_map.domains for n in d.nodes} == {
        h: d.name for d in result.placement.domains for h in d.hostnames
    }
    for name, text in deployed.items():
        assert (tmp_path / "slurm" / name).read_text() == text, name
    conf = deployed["slurm.conf"]
    assert re.search(r"^ClusterName=slurm-aws$", conf, re.M)

    # CLOUD nodes: no instance and no DNS record per node, only the head's.
    assert [r.name for r in _by_type(result, "aws:ec2/instance:Instance")] == ["slurm-aws-slurm-head"]
    assert {r.inputs["name"] for r in _by_type(result, "aws:route53/record:Record")} == {"slurmctld"}
    planned = {h for d in result.placement.domains for h in d.hostnames}
    assert len(planned) == result.plan.summary["nodes"]
    declared = re.findall(r"^NodeName=(\S+) .* State=CLOUD$", conf, re.M)
    assert sorted(declared) == sorted(compress_hostlist(list(d.hostnames)) for d in result.placement.domains)

    partitions = re.findall(r"^PartitionName=(\S+)", conf, re.M)
    assert result.spec.scheduler is not None and result.spec.scheduler.kind == "slurm"
    assert partitions == [p.name for p in result.spec.scheduler.partitions]


def test_node_groups_and_bootstrap_name_the_deployed_cluster(tmp_path: Path) -> None:
    assert main(["render", "commercial-us", "--out", str(tmp_path)]) == 0
    result = plan_stack("commercial-us")
    (cluster,) = _by_type(result, "aws:eks/cluster:Cluster")
    groups = {r.inputs.get("nodeGroupName", r.name): r.inputs for r in _by_type(result, "aws:eks/nodeGroup:NodeGroup")}
    planned = {g.name: g for g in result.plan.node_groups}
    assert set(planned) <= set(groups)
    for name, group in planned.items():
        assert groups[name]["clusterName"] == cluster.inputs["name"]
        assert groups[name]["scalingConfig"]["desiredSize"] == group.nodes
        assert {k: v for k, v in groups[name]["labels"].items() if k in group.labels} == dict(group.labels)
        user_data = tmp_path / "bootstrap" / f"{result.plan.name}-{group.fleet}-{name}.user-data.txt"
        # NodeConfig values are JSON scalars (rendering.to_json).
        assert f"name: {json.dumps(cluster.inputs['name'])}" in user_data.read_text(), user_data


def test_slurm_aws_without_egress_deploys_scripts_that_install_nothing() -> None:
    # slurm-aws is sovereign with the default egress (none): its head and join scripts take
    # Slurm from the image and check for it, instead of reaching a package archive.
    result = plan_stack("slurm-aws")
    assert result.spec.egress == "none"
    (head,) = [r for r in _by_type(result, "aws:ec2/instance:Instance") if r.name.endswith("-slurm-head")]
    script = gzip.decompress(base64.b64decode(head.inputs["userDataBase64"])).decode()
    (document,) = _by_type(result, "aws:ssm/document:Document")
    join = "\n".join(json.loads(document.inputs["content"])["mainSteps"][0]["inputs"]["runCommand"])
    for text in (script, join):
        assert "apt-get" not in text and "snap install" not in text
        assert re.search(r"^require ", text, re.M)
