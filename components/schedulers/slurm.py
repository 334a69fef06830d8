"""`SlurmScheduler`: a private Slurm head node over the compute nodes of the placement plan.

Choices:
* Compute nodes are `State=CLOUD` records of slurm.conf, not Pulumi resources: an EC2 instance exists
  only while Slurm needs the node. The head's ResumeProgram (`slurm_power.py`) launches a job's nodes
  from their placement domain's launch template with an instant EC2 Fleet and tags each instance
  with its planned Slurm name; the SuspendProgram terminates them by tag. Names stay fixed per node
  (topology, partitions and reservations list them), the resource count grows with domains only, and
  a launch template change replaces no running node.
* Each node's name is its `aifactory:slurm-node` tag; an SSM State Manager association runs the join
  script on every node tagged for the cluster, so the fleet's own bootstrap stays as it is.
* Only the head's name is in the private Route 53 zone (compute nodes find the controller and the
  munge share through it); compute nodes register their own address with slurmctld
  (`SlurmctldParameters=cloud_reg_addrs`), so there is no record per node.
* The munge key is generated on the head node's first boot and stored in Secrets Manager (encrypted
  with the stack's key when given); it never passes through Pulumi state. Only the head's role may
  read the secret (its resource policy denies everyone else, the fleets' roles carry an explicit
  deny); compute nodes copy the key as root from a root-only NFS share on the head, so no credential
  a job user could reach opens it.
* Instance metadata is reachable by root only on the compute nodes and by root and SlurmUser (which
  runs the power programs) on the head (an OUTPUT-chain firewall rule,
  `templates/slurm/imds-firewall.sh.j2`), and both launch with hop limit 1.
* Accounting uses Amazon RDS for MariaDB (slurmdbd's MySQL plugin), with the master password managed
  by RDS in Secrets Manager.
"""

import ast
import base64
import gzip
import ipaddress
import json
import re
from pathlib import Path
from typing import Literal, NotRequired, Required, TypedDict

import pulumi
import pulumi_aws as aws

# `pulumi.Input[T]` is `T | Awaitable[T] | "Output[T]"`, the last a string that `typing.get_type_hints`
# of this module's Args TypedDicts resolves in this module's namespace.
from pulumi.output import Output, T  # noqa: F401

from ..arns import assume_role_policy, managed_policy_arn, regional_service_host, service_principal
from ..component_args import slurm_scheduler_issues, validate_component_args
from ..planning import ec2_topology
from ..planning.network_plan import INTERNET_IPV4
from ..planning.topology_model import compress_hostlist
from ..rendering import render
from ..spec.images import AMI_ID
from . import slurm_power
from .slurm_config import (
    JOIN_TIMEOUT_S,
    SCRIPT_NAMES,
    SRUN_PORT_RANGE,
    SlurmRuntime,
    registers_topology,
    slurm_dns_zone,
    topology_file_name,
)
from .slurm_power import CLUSTER_TAG, NODE_NAME_TAG

SLURM_PORTS = (6817, 6819)
"""slurmctld (6817) to slurmdbd (6819) on the head node (slurm.conf(5) SlurmctldPort, slurmdbd.conf(5))."""

SLURMD_PORT = 6818
"""slurmd on the compute nodes (slurm.conf(5) SlurmdPort)."""

NFS_PORT = 2049
"""NFSv4 needs only this port: no portmapper or mountd (RFC 7530 section 3.1, "Port and
Transport")."""

HEAD_INGRESS: tuple[tuple[str, tuple[int, int], str], ...] = (
    ("slurm-ports", SLURM_PORTS, "slurmctld, slurmd and slurmdbd from the fleet"),
    # srun on the head (salloc, interactive steps): the nodes' step daemons connect back.
    ("srun", SRUN_PORT_RANGE, "srun on the head from the fleet's step daemons"),
    # The munge key share (NFSv4) from the fleet's nodes only.
    ("munge-share", (NFS_PORT, NFS_PORT), "munge key share (NFSv4, root only) from the fleet"),
)
"""What the head admits from each fleet's group, TCP: (rule name, port range, description)."""

MUNGE_SHARE = "/srv/aifactory-munge"
"""The head's root-only directory, exported read-only over NFS, holding the copy of the munge key
the compute nodes' root fetches at join."""


Egress = Literal["none", "nat"]

# What each script installs with NAT egress and needs from the image without it. Ubuntu 24.04
# packages: slurmctld/slurmd/slurmdbd and slurm-client (scontrol) from Ubuntu's slurm-wlm source,
# munge (munged, mungekey), mariadb-client (mariadb); the AWS CLI is a snap there (see the scripts).
HEAD_PACKAGES = ("slurmctld", "slurm-client", "munge", "nfs-kernel-server", "python3-boto3")
HEAD_BINARIES = ("slurmctld", "scontrol", "munged", "mungekey", "aws", "exportfs", "iptables")
POWER_BINARIES = ("python3",)
POWER_MODULES = ("boto3",)
"""What the head's power programs run and import (Ubuntu's python3 and python3-boto3)."""
ACCOUNTING_PACKAGES = ("slurmdbd", "mariadb-client")
ACCOUNTING_BINARIES = ("slurmdbd", "python3")
"""With accounting the head also needs a MariaDB/MySQL client (`mariadb` or `mysql`), checked apart."""
NODE_PACKAGES = ("slurmd", "munge", "nfs-common")
NODE_BINARIES = ("slurmd", "munged", "curl", "mount.nfs4", "iptables")
HEAD_IMAGE_PACKAGES = ("munge", "nfs-kernel-server", "python3-boto3", "mariadb-client", "iptables")
"""What the built head image takes from Ubuntu besides its own Slurm build (and the AWS CLI snap):
the head's first boot then installs nothing (templates/node_images/install_head.sh.j2)."""

OFFLINE_HINT = (
    "the stack has no internet egress (aifactory:network.egress is none), so nothing is installed at boot: "
    "build the image with them"
)
ONLINE_HINT = "the package install above should have provided them: check the route to the package archive"
BUILT_HINT = (
    "the image is the stack's built node image (aifactory:nodeImages.boot), whose CheckVersions step checks "
    "them: rebuild it from the recipe and re-pin it (aifactory images pin <stack>)"
)

# Values the scripts interpolate are checked here as well as quoted there: a host label (RFC 1123),
# a DNS name of such labels, an AWS region, a Slurm release series.
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")
_REGION = re.compile(r"^[a-z]{2,4}(-[a-z]+)+-[0-9]+\Z")
_SERIES = re.compile(r"^[0-9]{2}\.[0-9]{2}\Z")
DEFAULT_NODE_CIDR = "10.0.0.0/16"


class SlurmComputeGroupArgs(TypedDict):
    """The CLOUD nodes of one placement domain."""

    domain: str
    """The placement domain's name (the map's key the ResumeProgram groups a job's nodes by)."""
    launch_template_id: pulumi.Input[str]
    """The fleet's launch template for this domain (its subnet, placement and capacity)."""
    launch_template_version: pulumi.Input[str]
    """Its version (e.g. the template's latest_version as a string)."""
    capacity: str
    """The fleet's capacity type: on-demand, spot, capacity-reservation or capacity-block."""
    reservation_id: NotRequired[str | None]
    """The capacity reservation or block the launch template targets (the hold checks a block's state)."""
    hostnames: list[str]
    """Slurm node names from the placement plan, one instance each when resumed."""


class SlurmSchedulerArgs(TypedDict):
    """Inputs of `SlurmScheduler`: the rendered configuration and where the head and nodes go."""

    cluster_name: Required[str]
    """Slurm ClusterName; also names the private DNS zone `<cluster>.slurm.internal`."""
    controller_host: Required[str]
    """SlurmctldHost: the head node's host name."""
    version: Required[str]
    """Slurm release series the configuration was rendered for (e.g. 22.05)."""
    config_files: Required[dict[str, str]]
    """`render_slurm_configs` output: slurm.conf, gres.conf, cgroup.conf, topology.conf and the scripts."""
    measured_topology: NotRequired[bool]
    """EC2 nodes: the head rewrites the topology file from DescribeInstanceTopology every few minutes
    (default false: the rendered topology.conf is the data hall's real switch tree)."""
    accounting: NotRequired[bool]
    """Run slurmdbd on the head node with an RDS for MariaDB database."""
    egress: NotRequired[str]
    """The stack's internet egress: `nat` (default) installs Slurm from the distribution at boot;
    `none` installs nothing and the head and node images must carry Slurm, munge and the AWS CLI."""
    built_images: NotRequired[bool]
    """The head and nodes boot the stack's built images (`aifactory:nodeImages.boot`), which carry the
    recipe's Slurm build: nothing is installed at boot, whatever the egress (default false)."""
    region: Required[str]
    """The stack's region (the node scripts call Secrets Manager there)."""
    partition: NotRequired[str]
    """AWS partition of the region."""
    vpc_id: Required[pulumi.Input[str]]
    """VPC of the factory."""
    vpc_cidr: NotRequired[str]
    """The VPC's CIDR: with `egress: none` the head sends only inside it (and to S3's prefix list)."""
    s3_prefix_list_id: NotRequired[pulumi.Input[str]]
    """The S3 gateway endpoint's prefix list, the head's HTTPS route to S3 with `egress: none`."""
    subnet_id: Required[pulumi.Input[str]]
    """Private subnet of the head node."""
    database_subnet_ids: NotRequired[list[pulumi.Input[str]]]
    """Private subnets in at least two AZs for the accounting database (accounting only)."""
    fleet_security_group_ids: Required[list[pulumi.Input[str]]]
    """The fleets' node security groups: the only sources allowed to reach the Slurm ports."""
    node_role_names: NotRequired[list[pulumi.Input[str]]]
    """The fleets' instance roles: each gets an explicit deny on the munge key (only the head reads it)."""
    node_role_arns: NotRequired[list[pulumi.Input[str]]]
    """The same roles' ARNs: the head passes them to the instances its ResumeProgram launches."""
    node_cidr: NotRequired[str]
    """The VPC's CIDR: the only clients the head's munge key share is exported to (default 10.0.0.0/16)."""
    compute_groups: Required[list[SlurmComputeGroupArgs]]
    """One entry per placement domain."""
    remote_node_cidrs: NotRequired[list[str]]
    """On-premises networks of the data hall's slurmd servers (`aifactory:hybrid.remoteNodeCidrs`)."""
    kms_key_arn: NotRequired[pulumi.Input[str] | None]
    """Customer-managed key for the head volume, the munge secret and the database (sovereign)."""
    head_instance_type: NotRequired[str]
    """Head node instance type (default m7i.2xlarge)."""
    head_ami_id: Required[str]
    """Head node AMI: an Ubuntu 24.04 server AMI, the release of the compute nodes' Deep Learning AMI,
    so slurmctld and slurmd come from the same Slurm series (23.11), or with `built_images` the built
    head image (`aifactory:images.node-slurm-head`, the recipe's Slurm). Pinned, never looked up: an
    AMI change replaces the head instance (`aifactory images pin`)."""
    tags: NotRequired[dict[str, str]]
    """Tags for every taggable resource."""


def _validate(args: SlurmSchedulerArgs) -> None:
    """Refuse inputs that cannot be a host, zone, region or release before any script is rendered."""
    problems = []
    for key, value in (("cluster_name", args["cluster_name"]), ("controller_host", args["controller_host"])):
        if not _LABEL.match(str(value)):
            problems.append(f"{key} {value!r} is not a DNS label (a-z, 0-9, '-', at most 63)")
    if not _REGION.match(str(args["region"])):
        problems.append(f"region {args['region']!r} is not an AWS region name such as eu-north-1")
    if not _SERIES.match(str(args["version"])):
        problems.append(f"version {args['version']!r} is not a Slurm release series such as 23.11")
    if not re.match(r"^aws(-[a-z]+)*$", str(args.get("partition", "aws"))):
        problems.append(f"partition {args.get('partition')!r} is not an AWS partition such as aws")
    try:
        ipaddress.ip_network(str(args.get("node_cidr", DEFAULT_NODE_CIDR)), strict=True)
    except ValueError:
        problems.append(f"node_cidr {args.get('node_cidr')!r} is not a network such as 10.0.0.0/16")
    if args.get("egress", "nat") not in ("none", "nat"):
        problems.append(f"egress {args.get('egress')!r} is neither 'none' nor 'nat'")
    if "vpc_cidr" in args:
        try:
            ipaddress.IPv4Network(str(args["vpc_cidr"]), strict=True)
        except ValueError:
            problems.append(f"vpc_cidr {args['vpc_cidr']!r} is not an IPv4 network such as 10.0.0.0/16")
    for group in args["compute_groups"]:
        problems += [f"hostname {h!r} is not a DNS label" for h in group["hostnames"] if not _LABEL.match(h)]
        if group["capacity"] not in slurm_power.CAPACITY_TYPES:
            problems.append(f"capacity {group['capacity']!r} of domain {group['domain']!r} is not an EC2 capacity type")
    if problems:
        raise ValueError("SlurmScheduler: " + "; ".join(problems))


def _gzip_b64(text: str) -> str:
    # cloud-init accepts gzip-compressed user data; the head's embedded configs outgrow 16 KB raw.
    return base64.b64encode(gzip.compress(text.encode(), mtime=0)).decode()


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class SlurmScheduler(pulumi.ComponentResource):
    """A Slurm cluster over the factory's fleets: private head node, configless compute nodes."""

    head_instance_id: pulumi.Output[str]
    head_private_ip: pulumi.Output[str]
    controller_address: pulumi.Output[str]
    munge_secret_arn: pulumi.Output[str]
    security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: SlurmSchedulerArgs, opts: pulumi.ResourceOptions | None = None):
        # The stack config's rules, before anything registers (`component_args`); then the checks of the
        # values only this component takes (host names, CIDRs), also before the component registers.
        validate_component_args(SlurmSchedulerArgs, args, slurm_scheduler_issues)
        _validate(args)
        head_ami = args.get("head_ami_id")
        if not isinstance(head_ami, str) or not AMI_ID.match(head_ami):
            raise ValueError(
                f"SlurmScheduler '{name}': head_ami_id {head_ami!r} is not an AMI id (ami- and 8 or 17 hex "
                "digits); pin `aifactory:images.slurm-head` with `aifactory images pin <stack>`"
            )
        super().__init__("aifactory:index:SlurmScheduler", name, None, opts)
        self._name = name
        self._tags = dict(args.get("tags", {}))
        self._cluster = args["cluster_name"]
        zone_name = slurm_dns_zone(self._cluster)
        controller_host = args["controller_host"]
        head_sg = self._head_security_group(args)
        munge = self._munge_secret(args)
        database = self._accounting(args, head_sg) if args.get("accounting", False) else None
        profile = self._head_identity(args, munge, database is not None)
        head = self._head_instance(args, head_sg, munge, database, profile, zone_name)
        self._node_zone_and_join(args, head, zone_name)

        self.head_instance_id = head.id
        self.head_private_ip = head.private_ip
        self.controller_address = pulumi.Output.from_input(f"{controller_host}.{zone_name}")
        self.munge_secret_arn = munge.arn
        self.security_group_id = head_sg.id
        self.register_outputs(
            {
                "head_instance_id": self.head_instance_id,
                "head_private_ip": self.head_private_ip,
                "controller_address": self.controller_address,
                "munge_secret_arn": self.munge_secret_arn,
                "security_group_id": self.security_group_id,
            }
        )

    def _head_security_group(self, args: SlurmSchedulerArgs) -> aws.ec2.SecurityGroup:
        """The head's group, and the Slurm ports between it and every fleet's group."""
        name, tags = self._name, self._tags
        child = pulumi.ResourceOptions(parent=self)
        # Out to the VPC endpoints (SSM, Secrets Manager), the package mirror and the nodes. Without
        # internet egress nothing outside the VPC is reachable but S3 through its gateway endpoint,
        # whose prefix list a group must allow (VPC user guide, "Gateway endpoints for Amazon S3"):
        # an egress rule to everywhere would be an exfiltration path waiting for a route.
        egress: list[aws.ec2.SecurityGroupEgressArgs] = []
        if args.get("vpc_cidr"):
            egress.append(
                aws.ec2.SecurityGroupEgressArgs(
                    protocol="-1", from_port=0, to_port=0, cidr_blocks=[args["vpc_cidr"]], description="inside the VPC"
                )
            )
        if args.get("egress", "nat") == "nat":
            # Through NAT only what the head fetches: HTTPS (EC2 CreateFleet and the AWS APIs, Secrets
            # Manager, SSM) and HTTP for apt, whose Ubuntu mirror cloud-init sets for EC2 over plain HTTP
            # (cloud-init DataSourceEC2: http://<region>.ec2.archive.ubuntu.com/ubuntu/).
            egress += [
                aws.ec2.SecurityGroupEgressArgs(
                    protocol="tcp", from_port=port, to_port=port, cidr_blocks=[INTERNET_IPV4], description=what
                )
                for port, what in ((443, "HTTPS through NAT"), (80, "HTTP (apt) through NAT"))
            ]
        elif args.get("s3_prefix_list_id") is not None:
            egress.append(
                aws.ec2.SecurityGroupEgressArgs(
                    protocol="tcp",
                    from_port=443,
                    to_port=443,
                    prefix_list_ids=[args["s3_prefix_list_id"]],
                    description="HTTPS to S3 through the gateway endpoint",
                )
            )
        remote = list(args.get("remote_node_cidrs", []))
        if remote:
            # slurmctld (and srun on the head) reach the data hall's slurmd through the link
            # (slurm.conf(5) SlurmdPort).
            egress.append(
                aws.ec2.SecurityGroupEgressArgs(
                    protocol="tcp",
                    from_port=SLURMD_PORT,
                    to_port=SLURMD_PORT,
                    cidr_blocks=remote,
                    description="slurmctld to the data hall's slurmd",
                )
            )
        head_sg = aws.ec2.SecurityGroup(
            f"{name}-head",
            description="Slurm head node: slurmctld and slurmdbd from the fleets' nodes only",
            vpc_id=args["vpc_id"],
            egress=egress,
            tags={**tags, "Name": f"{name}-head"},
            opts=child,
        )
        for i, fleet_sg in enumerate(args["fleet_security_group_ids"]):
            for rule, (low, high), description in HEAD_INGRESS:
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-{rule}-{i}",
                    security_group_id=head_sg.id,
                    referenced_security_group_id=fleet_sg,
                    ip_protocol="tcp",
                    from_port=low,
                    to_port=high,
                    description=description,
                    tags=tags,
                    opts=child,
                )
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-slurmd-{i}",
                security_group_id=fleet_sg,
                referenced_security_group_id=head_sg.id,
                ip_protocol="tcp",
                from_port=SLURMD_PORT,
                to_port=SLURMD_PORT,
                description="slurmctld to slurmd",
                tags=tags,
                opts=child,
            )
        for cidr in remote:
            # The data hall's servers talk to the head as the fleets' nodes do (HEAD_INGRESS), through the
            # link, but not to the munge key share: that is exported to the VPC only.
            for rule, (low, high), description in HEAD_INGRESS:
                if rule == "munge-share":
                    continue
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-{rule}-{cidr.replace('.', '-').replace('/', '-')}",
                    security_group_id=head_sg.id,
                    cidr_ipv4=cidr,
                    ip_protocol="tcp",
                    from_port=low,
                    to_port=high,
                    description=description.replace("the fleet", "the data hall"),
                    tags=tags,
                    opts=child,
                )
        return head_sg

    def _munge_secret(self, args: SlurmSchedulerArgs) -> aws.secretsmanager.Secret:
        name, tags, cluster = self._name, self._tags, self._cluster
        child = pulumi.ResourceOptions(parent=self)
        kms = args.get("kms_key_arn")
        munge = aws.secretsmanager.Secret(
            f"{name}-munge-key",
            description=f"munge key of Slurm cluster {cluster}; written by the head node's first boot",
            kms_key_id=kms,
            recovery_window_in_days=7,
            tags=tags,
            opts=child,
        )
        return munge

    def _accounting(
        self, args: SlurmSchedulerArgs, head_sg: aws.ec2.SecurityGroup
    ) -> tuple[pulumi.Output[str], pulumi.Output[str | None]]:
        """slurmdbd's MariaDB, reachable from the head only; returns its address and master user secret ARN."""
        name, tags = self._name, self._tags
        child = pulumi.ResourceOptions(parent=self)
        kms = args.get("kms_key_arn")
        db_sg = aws.ec2.SecurityGroup(
            f"{name}-accounting",
            description="Slurm accounting database: MariaDB from the head node only",
            vpc_id=args["vpc_id"],
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp", from_port=3306, to_port=3306, security_groups=[head_sg.id]
                )
            ],
            tags=tags,
            opts=child,
        )
        subnets = aws.rds.SubnetGroup(
            f"{name}-accounting", subnet_ids=args["database_subnet_ids"], tags=tags, opts=child
        )
        db = aws.rds.Instance(
            f"{name}-accounting",
            engine="mariadb",
            instance_class="db.t4g.medium",
            allocated_storage=50,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=kms,
            username="slurm",
            manage_master_user_password=True,
            master_user_secret_kms_key_id=kms,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[db_sg.id],
            publicly_accessible=False,
            backup_retention_period=7,
            deletion_protection=True,
            final_snapshot_identifier=f"{name}-accounting-final",
            tags=tags,
            opts=child,
        )
        # RDS keeps the managed master password in a Secrets Manager secret and reports its ARN
        # (RDS API DBInstance.MasterUserSecret): the head reads the password from it at boot, so
        # neither the password nor an RDS API call (no RDS endpoint without egress) is needed.
        secret_arn = db.master_user_secrets.apply(rds_master_secret_arn)
        return db.address, secret_arn

    def _head_identity(
        self, args: SlurmSchedulerArgs, munge: aws.secretsmanager.Secret, accounting: bool
    ) -> aws.iam.InstanceProfile:
        """The head's role: SSM, the munge key and (with accounting) the database's managed secret."""
        name, tags = self._name, self._tags
        child = pulumi.ResourceOptions(parent=self)
        partition = args.get("partition", "aws")
        region = args["region"]
        kms = args.get("kms_key_arn")
        role = aws.iam.Role(
            f"{name}-head",
            assume_role_policy=assume_role_policy(service_principal("ec2", partition)),
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-head-ssm",
            role=role.name,
            policy_arn=managed_policy_arn(partition, "AmazonSSMManagedInstanceCore"),
            opts=child,
        )

        # RDS names the secret of a managed master password `rds!db-<id>` in the stack's region; the
        # head reads it at boot, so no password passes through Pulumi state.
        rds_secrets = f"arn:{partition}:secretsmanager:{region}:*:secret:rds!db-*"
        secret_arns: list[pulumi.Input[str]] = [munge.arn]
        if accounting:
            secret_arns.append(rds_secrets)
        if args["compute_groups"]:
            aws.iam.RolePolicy(
                f"{name}-head-power",
                role=role.id,
                policy=pulumi.Output.all(*args.get("node_role_arns", [])).apply(
                    lambda arns: json.dumps(head_power_policy(list(arns), self._cluster, region, partition))
                ),
                opts=child,
            )
        if args.get("measured_topology", False) and not registers_topology(args["version"]):
            aws.iam.RolePolicy(
                f"{name}-head-topology",
                role=role.id,
                policy=json.dumps(head_topology_policy()),
                opts=child,
            )
        aws.iam.RolePolicy(
            f"{name}-head-secrets",
            role=role.id,
            policy=pulumi.Output.all(kms, *secret_arns).apply(
                lambda v: json.dumps(_head_policy(list(v[1:]), v[0], region, partition))
            ),
            opts=child,
        )
        # Only the head reads or writes the munge key: the secret's own policy refuses every other
        # principal (Secrets Manager user guide, "Resource-based policies": an explicit deny in the
        # resource policy overrides any allow), matched by aws:PrincipalArn, the role ARN of an
        # assumed-role session (IAM user guide, "AWS global condition context keys").
        aws.secretsmanager.SecretPolicy(
            f"{name}-munge-key",
            secret_arn=munge.arn,
            policy=pulumi.Output.all(munge.arn, role.arn).apply(lambda v: json.dumps(munge_secret_policy(v[0], v[1]))),
            block_public_policy=True,
            opts=child,
        )
        # And the fleets' roles carry an explicit deny, so no policy attached to them later can
        # reopen the key to a job (IAM user guide, "Policy evaluation logic": an explicit deny wins).
        node_topology = args.get("measured_topology", False) and registers_topology(args["version"])
        for i, node_role in enumerate(args.get("node_role_names", [])):
            aws.iam.RolePolicy(
                f"{name}-node-munge-{i}",
                role=node_role,
                policy=munge.arn.apply(lambda arn: json.dumps(node_munge_deny(arn))),
                opts=child,
            )
            if node_topology:
                aws.iam.RolePolicy(
                    f"{name}-node-topology-{i}",
                    role=node_role,
                    policy=json.dumps(node_topology_policy(region)),
                    opts=child,
                )
        profile = aws.iam.InstanceProfile(f"{name}-head", role=role.name, tags=tags, opts=child)
        return profile

    def _head_instance(
        self,
        args: SlurmSchedulerArgs,
        head_sg: aws.ec2.SecurityGroup,
        munge: aws.secretsmanager.Secret,
        database: tuple[pulumi.Output[str], pulumi.Output[str | None]] | None,
        profile: aws.iam.InstanceProfile,
        zone_name: str,
    ) -> aws.ec2.Instance:
        name, tags, cluster = self._name, self._tags, self._cluster
        child = pulumi.ResourceOptions(parent=self)
        controller_host = args["controller_host"]
        region = args["region"]
        kms = args.get("kms_key_arn")
        accounting = database is not None
        db_host, db_secret = database if database is not None else (None, None)
        # The head runs no slurmd: the node scripts reach the nodes through the join document.
        files = [(n, t) for n, t in sorted(args["config_files"].items()) if n not in SCRIPT_NAMES]
        egress = args.get("egress", "nat")
        node_cidr = str(args.get("node_cidr", DEFAULT_NODE_CIDR))
        groups = args["compute_groups"]
        node_map = pulumi.Output.all(
            *[pulumi.Output.all(g["launch_template_id"], g["launch_template_version"]) for g in groups]
        ).apply(lambda templates: power_map(cluster, region, groups, [(str(t[0]), str(t[1])) for t in templates]))
        user_data = pulumi.Output.all(munge.arn, db_host, db_secret, node_map).apply(
            lambda v: _gzip_b64(
                head_user_data(
                    controller_host=controller_host,
                    zone=zone_name,
                    region=region,
                    munge_secret_arn=v[0],
                    accounting=accounting,
                    db_host=v[1],
                    db_secret_arn=v[2],
                    files=files,
                    egress=egress,
                    built_images=bool(args.get("built_images", False)),
                    node_cidr=node_cidr,
                    cluster=cluster,
                    version=args["version"],
                    measured_topology=bool(args.get("measured_topology", False))
                    and not registers_topology(args["version"]),
                    node_map=v[3] if groups else None,
                )
            )
        )
        head = aws.ec2.Instance(
            f"{name}-head",
            ami=args["head_ami_id"],
            instance_type=args.get("head_instance_type", "m7i.2xlarge"),
            subnet_id=args["subnet_id"],
            vpc_security_group_ids=[head_sg.id],
            iam_instance_profile=profile.name,
            associate_public_ip_address=False,
            # No container on the head: hop limit 1 (EC2 user guide, "Configure the instance
            # metadata options"), and the boot script's firewall leaves IMDS to root.
            metadata_options=aws.ec2.InstanceMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1
            ),
            root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(
                volume_type="gp3", volume_size=100, encrypted=True, kms_key_id=kms
            ),
            user_data_base64=user_data,
            tags={**tags, "Name": controller_host, CLUSTER_TAG: cluster},
            opts=child,
        )
        return head

    def _node_zone_and_join(self, args: SlurmSchedulerArgs, head: aws.ec2.Instance, zone_name: str) -> None:
        """The private zone with the head's record, and the SSM join every node runs."""
        name, tags, cluster = self._name, self._tags, self._cluster
        child = pulumi.ResourceOptions(parent=self)
        controller_host = args["controller_host"]
        zone = aws.route53.Zone(
            f"{name}-nodes",
            name=zone_name,
            comment=f"Slurm controller of {cluster}",
            vpcs=[aws.route53.ZoneVpcArgs(vpc_id=args["vpc_id"])],
            tags=tags,
            opts=child,
        )
        aws.route53.Record(
            f"{name}-{controller_host}",
            zone_id=zone.zone_id,
            name=controller_host,
            type="A",
            ttl=60,
            records=[head.private_ip],
            opts=child,
        )

        scripts = [(n, _b64(args["config_files"][n])) for n in SCRIPT_NAMES]
        join = join_script(
            zone=zone_name,
            version=args["version"],
            scripts=scripts,
            controller_host=controller_host,
            egress=args.get("egress", "nat"),
            built_images=bool(args.get("built_images", False)),
            region=args["region"],
            partition=args.get("partition", "aws"),
            registered_topology=bool(args.get("measured_topology", False)) and registers_topology(args["version"]),
        )
        document = aws.ssm.Document(
            f"{name}-join",
            document_type="Command",
            document_format="JSON",
            content=json.dumps(
                {
                    "schemaVersion": "2.2",
                    "description": f"Join a node to Slurm cluster {cluster}",
                    "mainSteps": [
                        {
                            "action": "aws:runShellScript",
                            "name": "join",
                            "inputs": {"runCommand": join.splitlines(), "timeoutSeconds": str(JOIN_TIMEOUT_S)},
                        }
                    ],
                }
            ),
            tags=tags,
            opts=child,
        )
        aws.ssm.Association(
            f"{name}-join",
            name=document.name,
            targets=[aws.ssm.AssociationTargetArgs(key=f"tag:{CLUSTER_TAG}", values=[cluster])],
            tags=tags,
            opts=child,
        )


def head_user_data(
    *,
    controller_host: str,
    zone: str,
    region: str,
    munge_secret_arn: str,
    accounting: bool,
    db_host: str | None,
    db_secret_arn: str | None,
    files: list[tuple[str, str]],
    egress: str,
    built_images: bool = False,
    node_cidr: str = DEFAULT_NODE_CIDR,
    cluster: str = "",
    version: str = "",
    measured_topology: bool = False,
    node_map: str | None = None,
) -> str:
    """The head node's first-boot script: installs Slurm with NAT egress, requires it in the image
    without (`egress` none) or when the image is the stack's built one (`built_images`), then the IMDS
    firewall, munge and its root-only share to `node_cidr`, the configuration, slurmdbd (accounting)
    and slurmctld; with CLOUD nodes (`node_map`, the `power_map` JSON) the power programs, and the
    capacity-block hold when a domain is on a block."""
    node_cidr = str(ipaddress.ip_network(node_cidr, strict=True))
    # Plain text through quoted here-documents (base64 would grow the gzipped user data by a fifth).
    for file_name, text in files:
        if FILE_DELIMITER in text.splitlines():
            raise ValueError(f"{file_name} contains its here-document delimiter")
    if accounting and not (db_host and db_secret_arn):
        raise ValueError("accounting needs the database's address and its master user secret")
    if measured_topology and node_map is None:
        raise ValueError("the measured topology lists the nodes of the power map; give node_map")
    power = _head_power(node_map) if node_map is not None else None
    return render(
        "slurm/head-user-data.sh.j2",
        controller_host=controller_host,
        zone=zone,
        region=region,
        munge_secret_arn=munge_secret_arn,
        accounting=accounting,
        db_host=db_host,
        db_secret_arn=db_secret_arn,
        files=[(n, t.rstrip("\n")) for n, t in files],
        munge_share=MUNGE_SHARE,
        node_cidr=node_cidr,
        offline=egress == "none",
        built=built_images,
        packages=HEAD_PACKAGES + (ACCOUNTING_PACKAGES if accounting else ()),
        binaries=tuple(
            dict.fromkeys(
                HEAD_BINARIES + (ACCOUNTING_BINARIES if accounting else ()) + (POWER_BINARIES if power else ())
            )
        ),
        modules=POWER_MODULES,
        missing_hint=_missing_hint(egress, built_images),
        topology=_head_topology(cluster, version) if measured_topology else None,
        power=power,
        # The power programs run as SlurmUser and call EC2 with the head's role.
        imds_users=(SlurmRuntime().slurm_user,) if power else (),
    )


FILE_DELIMITER = "AIFACTORY_FILE"
TOPOLOGY_PROGRAM = "/usr/local/lib/aifactory/ec2_topology.py"
TOPOLOGY_NODES = "/etc/slurm/aifactory-nodes.json"
POWER_PROGRAM = "/usr/local/lib/aifactory/slurm_power.py"
POWER_MAP = "/etc/slurm/aifactory-domains.json"
POWER_LOG = "/var/log/slurm/aifactory-power.log"
HOLD_INTERVAL = "1min"
"""How often the head checks its capacity blocks' state: a block's nodes are free within a minute of
it becoming active."""
TOPOLOGY_INTERVAL = "2min"
"""How often the head reads its nodes' EC2 topology: a node that joins is placed within minutes."""


def shipped_program(source: str) -> str:
    """A program as the head's user data carries it: the same code without comments and docstrings
    (the module docstring's first line stays: it is the program's `--help` description). The head's
    user data holds two such programs and EC2 takes at most 16 KB of it (EC2 user guide, "Run commands
    when you launch an EC2 instance with user data input"); this is a third smaller gzipped."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(body, list):
            continue
        kept = [
            s
            for s in body
            if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and isinstance(s.value.value, str))
        ]
        if isinstance(node, ast.Module) and ast.get_docstring(node):
            kept.insert(0, ast.Expr(ast.Constant((ast.get_docstring(node) or "").splitlines()[0])))
        setattr(node, "body", kept or [ast.Pass()])  # noqa: B010 (ast nodes declare no `body` in common)
    return ast.unparse(tree)


def _program_text(path: str) -> str:
    program = shipped_program(Path(path).read_text())
    # Written through a quoted here-document: no line of it may end the document early.
    if "AIFACTORY_PROGRAM" in program.splitlines():
        raise ValueError(f"{path} contains its here-document delimiter")
    return program


def _head_topology(cluster: str, version: str) -> dict[str, object]:
    """What the head's topology refresh needs: the translation program (the very file the plan renders
    the first topology with), where the planned node names (from the power map) and the file go."""
    if not _LABEL.match(cluster) or not _SERIES.match(version):
        raise ValueError(f"measured topology needs a cluster name and a Slurm series, not {cluster!r}, {version!r}")
    fmt = "yaml" if topology_file_name(version) == "topology.yaml" else "conf"
    return {
        "program": _program_text(ec2_topology.__file__),
        "program_path": TOPOLOGY_PROGRAM,
        "nodes_path": TOPOLOGY_NODES,
        "format": fmt,
        "output": f"/etc/slurm/{topology_file_name(version)}",
        "cluster": cluster,
        "cluster_tag": CLUSTER_TAG,
        "name_tag": NODE_NAME_TAG,
        "interval": TOPOLOGY_INTERVAL,
    }


def power_map(cluster: str, region: str, groups: list[SlurmComputeGroupArgs], templates: list[tuple[str, str]]) -> str:
    """The head's node -> domain map (`slurm_power.load_map`'s shape): per domain its hostlist, launch
    template and capacity; hostlists keep it small at 12,500 nodes."""
    domains = [
        {
            "name": g["domain"],
            "nodes": compress_hostlist(g["hostnames"]),
            "launchTemplateId": template,
            "launchTemplateVersion": version,
            "capacity": g["capacity"],
            "reservationId": g.get("reservation_id"),
        }
        for g, (template, version) in zip(groups, templates, strict=True)
    ]
    text = json.dumps({"cluster": cluster, "region": region, "domains": domains}, sort_keys=True)
    slurm_power.load_map(json.loads(text))  # the program reads it back: refuse what it would refuse
    return text


def _head_power(node_map: str) -> dict[str, object]:
    """What the head's power programs need: the program, the map and whether a capacity block is held."""
    parsed = slurm_power.load_map(json.loads(node_map))
    runtime = SlurmRuntime()
    return {
        "program": _program_text(slurm_power.__file__),
        "program_path": POWER_PROGRAM,
        "map": json.dumps(json.loads(node_map), sort_keys=True),  # one line: never the delimiter
        "map_path": POWER_MAP,
        "resume": runtime.resume_program,
        "suspend": runtime.suspend_program,
        "log": POWER_LOG,
        "slurm_user": runtime.slurm_user,
        "hold": any(d.capacity == "capacity-block" for d in parsed.domains),
        "hold_interval": HOLD_INTERVAL,
    }


def _missing_hint(egress: str, built_images: bool) -> str:
    if built_images:
        return BUILT_HINT
    return OFFLINE_HINT if egress == "none" else ONLINE_HINT


EC2_API_VERSION = "2016-11-15"
"""The EC2 Query API's `Version` parameter (EC2 API reference, "Common query parameters")."""


def _node_topology(region: str, partition: str) -> dict[str, str]:
    """What a Slurm >= 25.11 node's join needs to name its own switch path: the EC2 endpoint and the
    names the rendered topology file uses (`planning/ec2_topology.py`)."""
    if not _REGION.match(region):
        raise ValueError(f"region {region!r} is not an AWS region name")
    return {
        "region": region,
        "endpoint": regional_service_host("ec2", region, partition),
        "api_version": EC2_API_VERSION,
        "name": ec2_topology.TOPOLOGY_NAME,
        "root": ec2_topology.REGION,
        "zone_prefix": ec2_topology.ZONE_PREFIX,
        "hosts_suffix": ec2_topology.HOSTS_SUFFIX,
        "network_node": ec2_topology.NETWORK_NODE.pattern,
        "zone_id": ec2_topology.ZONE_ID.pattern,
    }


def join_script(
    *,
    zone: str,
    version: str,
    scripts: list[tuple[str, str]],
    controller_host: str,
    egress: str,
    built_images: bool = False,
    region: str = "",
    partition: str = "aws",
    registered_topology: bool = False,
    script_dir: str = "/etc/slurm/scripts",
) -> str:
    """The SSM join script every compute node runs as root: the IMDS firewall, the munge key from the
    head's share, the scripts and slurmd; with `registered_topology` (Slurm >= 25.11 on EC2) slurmd
    registers the node's own EC2 switch path."""
    if registered_topology and not registers_topology(version):
        raise ValueError(f"Slurm {version} nodes cannot register their topology (needs 25.11 or later)")
    return render(
        "slurm/slurmd-join.sh.j2",
        name_tag=NODE_NAME_TAG,
        zone=zone,
        version=version,
        munge_share=MUNGE_SHARE,
        script_dir=script_dir,
        scripts=scripts,
        controller_host=controller_host,
        offline=egress == "none",
        built=built_images,
        packages=NODE_PACKAGES,
        binaries=NODE_BINARIES,
        missing_hint=_missing_hint(egress, built_images),
        topology=_node_topology(region, partition) if registered_topology else None,
        imds_users=(),
    )


def rds_master_secret_arn(secrets: object) -> str | None:
    """The ARN of RDS's managed master user secret (`InstanceMasterUserSecret`, a dict by its
    snake_case names as the SDK and the mocks deliver it)."""
    for secret in secrets if isinstance(secrets, list | tuple) else []:
        arn = secret.get("secret_arn") if isinstance(secret, dict) else getattr(secret, "secret_arn", None)
        if arn:
            return str(arn)
    return None


def _kms_statement(kms: str | None, actions: list[str], region: str, partition: str) -> list[dict[str, object]]:
    """The key actions a role needs for secrets under the stack's key, only through Secrets Manager.

    Secrets Manager calls KMS with the caller's credentials: GenerateDataKey to store a value,
    Decrypt to read it (Secrets Manager user guide, "Secret encryption and decryption in AWS Secrets
    Manager": "Permissions for the KMS key"); kms:ViaService keeps the role from using the key
    directly (KMS developer guide, "kms:ViaService"). Encrypt is never needed.
    """
    if not kms:
        return []
    via = {"kms:ViaService": regional_service_host("secretsmanager", region, partition)}
    return [{"Effect": "Allow", "Action": actions, "Resource": kms, "Condition": {"StringEquals": via}}]


def _head_policy(secret_arns: list[str], kms: str | None, region: str, partition: str) -> dict[str, object]:
    """The head writes the munge key (first boot) and reads it and, with accounting, the database's
    RDS-managed secret, both under the stack's key."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:PutSecretValue",
                    "secretsmanager:DescribeSecret",
                ],
                "Resource": secret_arns,
            },
            *_kms_statement(kms, ["kms:Decrypt", "kms:GenerateDataKey"], region, partition),
        ],
    }


TOPOLOGY_ACTIONS = ["ec2:DescribeInstances", "ec2:DescribeInstanceTopology"]
"""What the head calls to build its nodes' switch tree (Slurm before 25.11)."""
NODE_TOPOLOGY_ACTIONS = ["ec2:DescribeInstanceTopology"]
"""What a Slurm >= 25.11 node calls to name its own switch path."""


def node_topology_policy(region: str) -> dict[str, object]:
    """From Slurm 25.11 a CLOUD node can take its topology only from its own slurmd (`--conf
    "Topology=..."`; a head-written file is what a powered-down node returns to), so each node asks EC2
    where it sits. DescribeInstanceTopology takes no resource type and no condition key of its own
    (Service Authorization Reference, "Actions, resources, and condition keys for Amazon EC2"), so
    the resource is `*`; the global `aws:RequestedRegion` key keeps the read to the stack's region (IAM
    user guide, "AWS global condition context keys"). It is read-only, and only root on the node
    reaches the role's credentials (the IMDS firewall), so a job cannot call it."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": NODE_TOPOLOGY_ACTIONS,
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:RequestedRegion": region}},
            }
        ],
    }


def head_topology_policy() -> dict[str, object]:
    """The head reads which instance is which node (DescribeInstances, by the cluster tag) and where
    each sits (DescribeInstanceTopology). Neither action takes a resource type or condition key in the
    Service Authorization Reference ("Actions, resources, and condition keys for Amazon EC2"), so the
    resource is `*`; the EC2 topology prerequisites page names the same permission ("Prerequisites for
    Amazon EC2 topology", "IAM permissions").

    Before Slurm 25.11, why the head calls and not each node: a node would need the permission on a role its jobs run
    next to, and a channel to hand its answer to the head (a writable share, a parameter or a tag,
    each writable by every node). Calling from the head gives one role two read-only actions, adds no
    path from a compute node to the head, and a node cannot misreport where it sits.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": TOPOLOGY_ACTIONS, "Resource": "*"}],
    }


POWER_LAUNCH_ACTIONS = ["ec2:CreateFleet", "ec2:RunInstances", "ec2:CreateTags"]
POWER_READ_ACTIONS = ["ec2:DescribeInstances", "ec2:DescribeCapacityReservations"]


def head_power_policy(node_role_arns: list[str], cluster: str, region: str, partition: str) -> dict[str, object]:
    """What the head's ResumeProgram, SuspendProgram and capacity-block hold call.

    An instant EC2 Fleet launches with the caller's permissions, not a service-linked role (EC2 user
    guide, "EC2 Fleet prerequisites": "An instant EC2 Fleet does not require this role"): CreateFleet,
    RunInstances and CreateTags (tags at launch and each node's name after), and iam:PassRole for the
    fleets' instance roles, only to EC2 (IAM user guide, "iam:PassedToService"). Termination is limited
    to instances tagged for this cluster (EC2 user guide, "Control access to EC2 resources using
    resource tags": `aws:ResourceTag`). The Describe actions take no resource type (Service
    Authorization Reference, "Actions, resources, and condition keys for Amazon EC2")."""
    statements: list[dict[str, object]] = [
        {"Effect": "Allow", "Action": POWER_LAUNCH_ACTIONS, "Resource": "*"},
        {"Effect": "Allow", "Action": POWER_READ_ACTIONS, "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": ["ec2:TerminateInstances"],
            "Resource": f"arn:{partition}:ec2:{region}:*:instance/*",
            "Condition": {"StringEquals": {f"aws:ResourceTag/{CLUSTER_TAG}": cluster}},
        },
    ]
    if node_role_arns:
        statements.append(
            {
                "Effect": "Allow",
                "Action": ["iam:PassRole"],
                "Resource": sorted(node_role_arns),
                "Condition": {"StringEquals": {"iam:PassedToService": service_principal("ec2", partition)}},
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


MUNGE_SECRET_ACTIONS = ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"]


def munge_secret_policy(secret_arn: str, head_role_arn: str) -> dict[str, object]:
    """The munge secret's resource policy: nobody but the head's role reads or writes its value."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OnlyTheHeadNodeReadsTheMungeKey",
                "Effect": "Deny",
                "Principal": "*",
                "Action": MUNGE_SECRET_ACTIONS,
                "Resource": secret_arn,
                "Condition": {"StringNotEquals": {"aws:PrincipalArn": head_role_arn}},
            }
        ],
    }


def node_munge_deny(secret_arn: str) -> dict[str, object]:
    """A compute role's explicit deny on the munge key (it gets the key from the head, as root)."""
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": MUNGE_SECRET_ACTIONS, "Resource": secret_arn}],
    }
