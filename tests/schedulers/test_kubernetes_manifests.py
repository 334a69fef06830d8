"""Every generated Kubernetes object validates strictly; quotas add up; the validator catches mistakes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import kubernetes_validate
import pytest
from aifactory.schedulers import kubernetes_manifests as m
from aifactory.spec.scheduler import Queue

from tests.crd_validation import CrdValidationError, validate_custom_resource

VERSION = "1.35"
BLOCK_END = datetime(2026, 12, 15, 11, 30, tzinfo=UTC)
P5 = m.FleetCapacity("ondemand", "p5.48xlarge", 4)
BLOCK = m.FleetCapacity("block", "p5en.48xlarge", 2, capacity_block_end=BLOCK_END)
TRN = m.FleetCapacity("trn", "trn1.32xlarge", 2)
FLEETS = [P5, BLOCK, TRN]
QUEUES = [
    Queue(name="research", namespace="research", gpu_quota=24, cohort="training", borrowing_limit=16),
    Queue(name="product", namespace="product", gpu_quota=24, cohort="training", fleets=["ondemand", "block"]),
    Queue(name="neuron", namespace="research", gpu_quota=32, fleets=["trn"]),
]


def validate(obj: dict) -> None:
    if obj["apiVersion"].startswith(("kueue.x-k8s.io", "jobset.x-k8s.io")):
        validate_custom_resource(obj)
    else:
        kubernetes_validate.validate(obj, VERSION, strict=True)


def all_objects() -> list[dict]:
    objs = m.scheduling_objects(
        QUEUES, FLEETS, ["production-training", "fine-tuning", "evaluation"], m.AWS_TOPOLOGY_LEVELS
    )
    objs += m.fsx_volumes(
        "fs-0123456789abcdef0",
        "fs-0123456789abcdef0.fsx.us-east-1.amazonaws.com",
        "abcdefgh",
        1200,
        m.team_namespaces(QUEUES),
    )
    objs.append(m.nccl_tests_jobset(P5, 2, QUEUES[1], "topology.k8s.aws/network-node-layer-3"))
    objs.append(m.nccom_test_jobset(TRN, 2, QUEUES[2], "topology.k8s.aws/network-node-layer-3"))
    objs.append(m.namespace(m.SYSTEM_NAMESPACE))
    objs += m.capacity_block_drain(BLOCK, VERSION, timedelta(minutes=15))
    return objs


@pytest.mark.parametrize("obj", all_objects(), ids=lambda o: f"{o['kind']}-{o['metadata']['name']}")
def test_every_object_validates(obj: dict) -> None:
    validate(obj)


def test_quotas_never_exceed_fleets() -> None:
    per_fleet: dict[tuple[str, str], float] = {}
    for cq in (o for o in all_objects() if o["kind"] == "ClusterQueue"):
        for group in cq["spec"]["resourceGroups"]:
            for flavor in group["flavors"]:
                for r in flavor["resources"]:
                    amount = float(str(r["nominalQuota"]).removesuffix("Gi"))
                    key = (flavor["name"], r["name"])
                    per_fleet[key] = per_fleet.get(key, 0) + amount
    for fleet in FLEETS:
        from aifactory.catalog.instance_types import get_instance_type

        it = get_instance_type(fleet.instance_type)
        assert per_fleet.get((fleet.name, fleet.accelerator_resource), 0) <= fleet.accelerators
        assert per_fleet.get((fleet.name, "cpu"), 0) <= it.vcpus * fleet.nodes
        assert per_fleet.get((fleet.name, "memory"), 0) <= it.memory_gib * fleet.nodes
        assert per_fleet.get((fleet.name, m.EFA_RESOURCE), 0) <= it.max_efa_interfaces * fleet.nodes
    # every queue gets exactly its quota
    split = m.allocate_quotas(QUEUES, FLEETS)
    assert {q.name: sum(split[q.name].values()) for q in QUEUES} == {
        "research": 24,
        "product": 24,
        "neuron": 32,
    }


def test_allocation_finds_a_split_greedy_order_would_miss() -> None:
    # 'a' may use both fleets; 'b' only the first. Taking the first fleet for 'a' would starve 'b'.
    small = [m.FleetCapacity("x", "p5.48xlarge", 1), m.FleetCapacity("y", "p5.48xlarge", 1)]
    queues = [
        Queue(name="a", namespace="a", gpu_quota=8),
        Queue(name="b", namespace="b", gpu_quota=8, fleets=["x"]),
    ]
    assert m.allocate_quotas(queues, small) == {"a": {"x": 0, "y": 8}, "b": {"x": 8}}
    with pytest.raises(m.QuotaError, match="b wants 9"):
        m.allocate_quotas([queues[0], Queue(name="b", namespace="b", gpu_quota=9, fleets=["x"])], small)


def test_cluster_queue_uses_v1beta2_cohort_and_training_preemption() -> None:
    cq = next(o for o in all_objects() if o["kind"] == "ClusterQueue" and o["metadata"]["name"] == "research")
    assert cq["spec"]["cohortName"] == "training"
    assert cq["spec"]["preemption"] == {"withinClusterQueue": "LowerPriority", "reclaimWithinCohort": "Any"}
    kinds = [g["coveredResources"][0] for g in cq["spec"]["resourceGroups"]]
    assert kinds == ["nvidia.com/gpu", "aws.amazon.com/neuron"]
    gpu = cq["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]
    assert gpu["borrowingLimit"] == 16


def test_flavor_tolerates_the_gpu_taint_and_names_the_topology() -> None:
    flavor = m.resource_flavor(P5, "aifactory")
    assert flavor["spec"]["nodeLabels"] == {"aifactory.io/fleet": "ondemand"}
    assert {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"} in flavor["spec"][
        "tolerations"
    ]
    assert flavor["spec"]["topologyName"] == "aifactory"


def test_priorities_ordered_highest_first() -> None:
    values = [p["value"] for p in m.workload_priority_classes(["a", "b", "c"])]
    assert values == sorted(values, reverse=True) and len(set(values)) == 3


def test_kueue_configuration_gang_admission_and_fair_sharing() -> None:
    config = m.kueue_configuration()
    assert config["apiVersion"] == "config.kueue.x-k8s.io/v1beta2"
    assert config["waitForPodsReady"]["blockAdmission"] is True and config["waitForPodsReady"]["timeout"]
    assert "enable" not in config["waitForPodsReady"] and "enable" not in config["fairSharing"]
    assert config["fairSharing"]["preemptionStrategies"]
    assert "jobset.x-k8s.io/jobset" in config["integrations"]["frameworks"]


def test_nccl_jobset_runs_over_efa_in_one_topology_domain() -> None:
    js = m.nccl_tests_jobset(P5, 2, QUEUES[1], "topology.k8s.aws/network-node-layer-3")
    assert js["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "product"
    assert js["metadata"]["annotations"][m.EXPECTED_BUSBW_ANNOTATION] == "480"
    worker = js["spec"]["replicatedJobs"][1]["template"]["spec"]
    assert worker["parallelism"] == 2
    pod = worker["template"]
    assert pod["metadata"]["annotations"][m.REQUIRED_TOPOLOGY] == "topology.k8s.aws/network-node-layer-3"
    limits = pod["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == 8 and limits["vpc.amazonaws.com/efa"] == 32 and limits["hugepages-2Mi"]
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["FI_PROVIDER"] == "efa" and "aws-ofi-nccl" in env["LD_LIBRARY_PATH"]
    launcher = js["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]["containers"][0]
    assert "-np 16 -N 8" in launcher["command"][2] and "all_reduce_perf" in launcher["command"][2]
    assert "480 GB/s" in m.nccl_tests_readme(js)


def test_nccl_jobset_pulls_through_the_mirror_when_one_is_given() -> None:
    mirror = "123456789012.dkr.ecr.eu-north-1.amazonaws.com/mirror"
    js = m.nccl_tests_jobset(P5, 2, QUEUES[1], "kubernetes.io/hostname", registry_mirror=mirror)
    images = {
        c["image"]
        for job in js["spec"]["replicatedJobs"]
        for c in job["template"]["spec"]["template"]["spec"]["containers"]
    }
    assert images == {f"{mirror}/{m.NCCL_TESTS_IMAGE}"}
    plain = m.nccl_tests_jobset(P5, 2, QUEUES[1], "kubernetes.io/hostname")
    assert (
        plain["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]["containers"][0]["image"]
        == m.NCCL_TESTS_IMAGE
    )


def test_nccl_jobset_refuses_neuron_and_too_many_nodes() -> None:
    with pytest.raises(ValueError, match="NVIDIA"):
        m.nccl_tests_jobset(TRN, 2, QUEUES[2], "kubernetes.io/hostname")
    with pytest.raises(ValueError, match="between 2"):
        m.nccl_tests_jobset(P5, 5, QUEUES[1], "kubernetes.io/hostname")


def test_capacity_block_drain_runs_before_eks_scales_down() -> None:
    objs = m.capacity_block_drain(BLOCK, VERSION, timedelta(minutes=15))
    cron = objs[-1]
    start = BLOCK_END - timedelta(minutes=55)
    assert cron["spec"]["schedule"] == f"{start.minute} {start.hour} {start.day} {start.month} *"
    assert cron["spec"]["timeZone"] == "Etc/UTC"
    script = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"][2]
    assert "--grace-period=900" in script and "aifactory.io/fleet=block" in script
    assert "aifactory.io/capacity-block-ending=true:NoSchedule" in script
    with pytest.raises(ValueError):
        m.capacity_block_drain(P5, VERSION, timedelta(minutes=15))


def test_fsx_volume_is_static_retained_and_bound_per_namespace() -> None:
    objs = m.fsx_volumes("fs-1", "dns", "mnt", 1200, ["a", "b"])
    pvs = [o for o in objs if o["kind"] == "PersistentVolume"]
    assert [pv["spec"]["claimRef"]["namespace"] for pv in pvs] == ["a", "b"]
    assert all(pv["spec"]["csi"]["driver"] == "fsx.csi.aws.com" for pv in pvs)
    assert all(pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain" for pv in pvs)


# Negative cases: the strict validator must catch what the API server would reject.


def test_validator_rejects_v1beta1_cohort_field() -> None:
    cq = m.cluster_queue(QUEUES[0], m.allocate_quotas(QUEUES, FLEETS)["research"], {f.name: f for f in FLEETS})
    cq["spec"]["cohort"] = cq["spec"].pop("cohortName")
    with pytest.raises(CrdValidationError, match="cohort"):
        validate_custom_resource(cq)


def test_validator_rejects_unknown_nested_field_and_bad_enum() -> None:
    flavor = m.resource_flavor(P5, "aifactory")
    flavor["spec"]["nodeSelector"] = {"a": "b"}
    with pytest.raises(CrdValidationError, match="nodeSelector"):
        validate_custom_resource(flavor)
    cq = m.cluster_queue(QUEUES[1], {"ondemand": 8}, {"ondemand": P5})
    cq["spec"]["preemption"]["withinClusterQueue"] = "Always"
    with pytest.raises(CrdValidationError, match="Always"):
        validate_custom_resource(cq)


def test_validator_checks_cel_rules() -> None:
    with pytest.raises(CrdValidationError, match="lowest level"):
        validate_custom_resource(m.topology("t", ["kubernetes.io/hostname", "topology.k8s.aws/network-node-layer-1"]))
    cq = m.cluster_queue(QUEUES[0].model_copy(update={"cohort": None}), {"ondemand": 8}, {"ondemand": P5})
    with pytest.raises(CrdValidationError, match="borrowingLimit must be nil"):
        validate_custom_resource(cq)
    flavor = m.resource_flavor(P5, "aifactory")
    flavor["spec"]["nodeLabels"] = {}
    with pytest.raises(CrdValidationError, match="nodeLabel is required"):
        validate_custom_resource(flavor)


def test_validator_rejects_unknown_jobset_field_and_builtin_typo() -> None:
    js = m.nccl_tests_jobset(P5, 2, QUEUES[1], "kubernetes.io/hostname")
    js["spec"]["replicatedJobs"][0]["replica"] = 1
    with pytest.raises(CrdValidationError, match="replica"):
        validate_custom_resource(js)
    pv = m.fsx_volumes("fs-1", "dns", "mnt", 1200, ["a"])[0]
    pv["spec"]["reclaimPolicy"] = "Retain"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pv, VERSION, strict=True)


B200 = m.FleetCapacity("big", "p6-b200.48xlarge", 2)
G6 = m.FleetCapacity("dev", "g6.xlarge", 1, efa=False)
MIXED_QUEUES = [Queue(name="research", namespace="research", gpu_quota=8)]


def measured_objects() -> list[dict]:
    """Without given levels each fleet gets the EC2 layers of its type (3, 4, or none)."""
    return m.scheduling_objects(MIXED_QUEUES, [P5, B200, G6], ["production-training"], None)


@pytest.mark.parametrize(
    "obj",
    [o for o in measured_objects() if o["kind"] in ("Topology", "ResourceFlavor")],
    ids=lambda o: f"{o['kind']}-{o['metadata']['name']}",
)
def test_measured_topology_objects_validate(obj: dict) -> None:
    validate(obj)


def test_one_topology_per_layer_count_and_each_flavor_names_its_types() -> None:
    objs = measured_objects()
    topologies = {
        o["metadata"]["name"]: [lv["nodeLabel"] for lv in o["spec"]["levels"]] for o in objs if o["kind"] == "Topology"
    }
    layer = "topology.k8s.aws/network-node-layer-"
    assert topologies == {
        "aifactory": [f"{layer}1", f"{layer}2", f"{layer}3", "kubernetes.io/hostname"],
        "aifactory-4-layer": [f"{layer}1", f"{layer}2", f"{layer}3", f"{layer}4", "kubernetes.io/hostname"],
    }
    flavors = {o["metadata"]["name"]: o["spec"] for o in objs if o["kind"] == "ResourceFlavor"}
    assert flavors["ondemand"]["topologyName"] == "aifactory"
    assert flavors["big"]["topologyName"] == "aifactory-4-layer"
    # g6 has no EC2 topology: no Topology for its flavor (Kueue then places without TAS).
    assert "topologyName" not in flavors["dev"]


def test_given_levels_make_one_shared_topology() -> None:
    objs = m.scheduling_objects(MIXED_QUEUES, [P5, B200], ["production-training"], ["rack", "kubernetes.io/hostname"])
    assert [o["metadata"]["name"] for o in objs if o["kind"] == "Topology"] == ["aifactory"]
    assert {o["spec"]["topologyName"] for o in objs if o["kind"] == "ResourceFlavor"} == {"aifactory"}


def test_nccl_jobset_without_topology_has_no_required_level() -> None:
    js = m.nccl_tests_jobset(P5, 2, QUEUES[1], None)
    worker = next(j for j in js["spec"]["replicatedJobs"] if j["name"] == "worker")
    assert m.REQUIRED_TOPOLOGY not in worker["template"]["spec"]["template"]["metadata"]["annotations"]
    validate(js)


TRN2 = m.FleetCapacity("trn2", "trn2.48xlarge", 4)


def _worker(js: dict) -> dict:
    return js["spec"]["replicatedJobs"][1]["template"]["spec"]["template"]


def _launcher_script(js: dict) -> str:
    return js["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]["containers"][0]["command"][2]


def test_nccom_jobset_takes_whole_trainium_nodes_with_their_efa_layout() -> None:
    from aifactory.catalog.instance_types import get_instance_type
    from aifactory.planning.efa_layout import efa_device_count

    js = m.nccom_test_jobset(TRN2, 2, QUEUES[2], "topology.k8s.aws/network-node-layer-3")
    validate(js)
    assert js["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "neuron"
    pod = _worker(js)
    assert pod["metadata"]["annotations"][m.REQUIRED_TOPOLOGY] == "topology.k8s.aws/network-node-layer-3"
    limits = pod["spec"]["containers"][0]["resources"]["limits"]
    # All 16 Trainium2 devices and every EFA device the launch template gives the node.
    assert limits["aws.amazon.com/neuron"] == 16
    assert limits[m.EFA_RESOURCE] == efa_device_count(get_instance_type("trn2.48xlarge")) == 16
    assert "nvidia.com/gpu" not in limits
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env == m.LIBFABRIC_EFA_ENV and not any(k.startswith("NCCL_") for k in env)
    images = {
        c["image"]
        for job in js["spec"]["replicatedJobs"]
        for c in job["template"]["spec"]["template"]["spec"]["containers"]
    }
    assert images == {m.NCCOM_TEST_IMAGE}


def test_nccom_command_is_the_documented_multi_instance_all_reduce() -> None:
    # Neuron docs nccom-test "MPI Execution": 64 ranks on two trn1.32xlarge (16 devices x 2 NeuronCores).
    script = _launcher_script(m.nccom_test_jobset(TRN, 2, QUEUES[2], None))
    hosts = "nccom-test-worker-0-0.nccom-test nccom-test-worker-0-1.nccom-test"
    assert f"nccom-test -r 64 -N 2 -b 8 -e 1GB -f 2 -n 50 -w 5 -d fp32 allr --hosts {hosts}" in script
    assert "getent hosts nccom-test-worker-0-0.nccom-test" in script
    assert 'export NEURON_RT_ROOT_COMM_ID="$root:45654"' in script
    assert script.index("NEURON_RT_ROOT_COMM_ID") < script.index("nccom-test -r")
    # trn2 at the default LNC=2: 4 logical NeuronCores per device, 64 per node.
    assert "nccom-test -r 192 -N 3 " in _launcher_script(m.nccom_test_jobset(TRN2, 3, QUEUES[2], None))
    worker = _worker(m.nccom_test_jobset(TRN, 2, QUEUES[2], None))["spec"]["containers"][0]["command"][2]
    assert "/root/.ssh/environment" in worker and "PermitUserEnvironment=yes" in worker
    assert "mpirun" not in script and "all_reduce_perf" not in script


def test_nccom_jobset_refuses_gpus_and_pulls_through_the_mirror() -> None:
    with pytest.raises(ValueError, match="Neuron devices"):
        m.nccom_test_jobset(P5, 2, QUEUES[1], None)
    with pytest.raises(ValueError, match="between 2"):
        m.nccom_test_jobset(TRN, 3, QUEUES[2], None)
    mirror = "123456789012.dkr.ecr.eu-north-1.amazonaws.com/mirror"
    js = m.nccom_test_jobset(TRN, 2, QUEUES[2], None, registry_mirror=mirror)
    images = {
        c["image"]
        for job in js["spec"]["replicatedJobs"]
        for c in job["template"]["spec"]["template"]["spec"]["containers"]
    }
    assert images == {f"{mirror}/{m.NCCOM_TEST_IMAGE}"}


def test_the_quota_counts_what_the_device_plugins_advertise_and_the_tests_request() -> None:
    # The Neuron device plugin advertises whole devices as aws.amazon.com/neuron (Neuron docs
    # containers/tutorials/k8s-neuron-device-plugin), the NVIDIA one nvidia.com/gpu.
    assert m.ACCELERATOR_RESOURCE == {"nvidia": "nvidia.com/gpu", "aws": "aws.amazon.com/neuron"}
    cq = next(o for o in all_objects() if o["kind"] == "ClusterQueue" and o["metadata"]["name"] == "neuron")
    (group,) = cq["spec"]["resourceGroups"]
    assert group["coveredResources"][0] == "aws.amazon.com/neuron"
    requested = _worker(m.nccom_test_jobset(TRN, 2, QUEUES[2], None))["spec"]["containers"][0]["resources"]["requests"]
    assert set(group["coveredResources"]) <= set(requested)


def test_fabric_test_per_fleet_kind_never_raises() -> None:
    level = "topology.k8s.aws/network-node-layer-3"
    nccl = m.fabric_test(P5, 2, QUEUES[1], level)
    assert nccl.jobset is not None and nccl.jobset["metadata"]["name"] == "nccl-tests"
    assert nccl.jobset == m.nccl_tests_jobset(P5, 2, QUEUES[1], level) and "nccl-tests" in nccl.readme
    nccom = m.fabric_test(TRN2, 2, QUEUES[2], level)
    assert nccom.jobset is not None and nccom.jobset["metadata"]["name"] == "nccom-test"
    assert "nccom-test all-reduce" in nccom.readme and "480 GB/s" in nccom.readme
    hybrid = m.FleetCapacity("hall", None, 4, efa=False, server="dgx-b200")
    cases = {
        "no EFA interfaces": m.FleetCapacity("dev", "g6.xlarge", 2, efa=False),
        "fewer than two nodes": TRN2,
        "own": hybrid,
    }
    for why, fleet in cases.items():
        nodes = 1 if fleet is TRN2 else 2
        test = m.fabric_test(fleet, nodes, QUEUES[0], None)
        assert test.jobset is None and why in test.readme, (why, test.readme)


@pytest.mark.parametrize(
    "jobset",
    [m.nccl_tests_jobset(P5, 2, QUEUES[1], None), m.nccom_test_jobset(TRN2, 2, QUEUES[2], None)],
    ids=["nccl-tests", "nccom-test"],
)
def test_fabric_test_scripts_parse_and_pass_shellcheck(jobset: dict) -> None:
    import subprocess

    from tests.validators import shellcheck

    for job in jobset["spec"]["replicatedJobs"]:
        (container,) = job["template"]["spec"]["template"]["spec"]["containers"]
        assert container["command"][:2] == ["/bin/bash", "-c"]
        script = container["command"][2]
        subprocess.run(["bash", "-n"], input=script, text=True, check=True, timeout=30)
        assert shellcheck(script) == [], job["name"]
