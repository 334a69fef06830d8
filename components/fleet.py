"""`GpuFleet`: identical accelerated nodes with the full EFA layout, one launch template per domain."""

import base64
from datetime import datetime
from typing import NotRequired, Required, TypedDict

import pulumi
import pulumi_aws as aws

# `pulumi.Input[T]` is `T | Awaitable[T] | "Output[T]"`, the last a string that `typing.get_type_hints`
# of this module's Args TypedDicts resolves in this module's namespace.
from pulumi.output import Output, T  # noqa: F401

from .arns import assume_role_policy, managed_policy_arn, service_principal
from .catalog.instance_types import InstanceType, get_instance_type
from .component_args import gpu_fleet_issues, validate_component_args
from .plan_time import require_plan_time
from .planning.capacity import CAPACITY_BLOCK_RECLAIM
from .planning.efa_layout import efa_interfaces
from .spec.images import AMI_ID
from .spec.placement_rules import is_placement_group_name

# Root devices: AL2023 (EKS AMIs) boot from /dev/xvda, the Ubuntu DLAMIs from /dev/sda1.
_ROOT_DEVICE = {"kubernetes": "/dev/xvda", "slurm": "/dev/sda1", "none": "/dev/sda1"}


class FleetDomainArgs(TypedDict):
    """One placement domain of a fleet (plain values: each gets its own launch template)."""

    name: Required[str]
    """Domain name, unique within the fleet (DNS-safe)."""
    nodes: Required[int]
    """Number of nodes in the domain."""
    placement: NotRequired[str]
    """`cluster`, `partition`, `reservation`, `none` or `rack`."""
    placement_group: NotRequired[str | None]
    """`cluster`/`partition`: logical placement group the fleet creates and its domains share.
    `reservation`: the name of the existing cluster placement group the capacity reservation was
    created in (launched into, never created); None for a reservation or block placed by EC2."""
    partition_number: NotRequired[int | None]
    """Partition (1-7) of a partition placement group."""
    gpu_power_cap_w: NotRequired[int | None]
    """Per-GPU power limit set at boot; None leaves the default."""
    labels: NotRequired[dict[str, str]]
    """Topology labels of the domain's nodes."""


class GpuFleetArgs(TypedDict):
    """Inputs of `GpuFleet`. The subnet, security groups, KMS key and user data may be resource
    outputs; everything else chooses resources at plan time and must be a plain value."""

    instance_type: Required[str]
    """EC2 instance type from the hardware catalog."""
    domains: Required[list[FleetDomainArgs]]
    """Placement domains; each gets its own launch template (and group)."""
    subnet_id: Required[pulumi.Input[str]]
    """The single subnet (one AZ) every node and interface lives in."""
    security_group_ids: Required[list[pulumi.Input[str]]]
    """Security groups on every interface, EFA-only ones too: EFA group, node group (EKS: cluster group)."""
    capacity_type: NotRequired[str]
    """`on-demand` (default), `capacity-reservation`, `capacity-block` or `spot`."""
    reservation_id: NotRequired[str | None]
    """Capacity reservation or capacity block id (cr-…)."""
    capacity_block_end: NotRequired[str | None]
    """ISO 8601 end of the capacity block."""
    scheduler: NotRequired[str]
    """`none` (default: autoscaling groups), `kubernetes` (EKS managed node groups) or `slurm`."""
    kubernetes_version: NotRequired[str]
    """EKS version of the cluster the nodes join (kubernetes scheduler)."""
    ami_id: Required[str]
    """The AMI every node boots: pinned, never looked up, so a new public image release changes
    nothing until the stack pins it (`aifactory:images`, `aifactory images pin`). For EKS the
    EKS-optimized AL2023 AMI of `kubernetes_version`, otherwise an Ubuntu 24.04 Deep Learning AMI."""
    kms_key_arn: NotRequired[pulumi.Input[str] | None]
    """Customer-managed key for the root volumes; None uses the account's default EBS key."""
    root_volume_gib: NotRequired[int]
    """Root volume size (gp3, default 200)."""
    partition: NotRequired[str]
    """AWS partition of the stack's region (default `aws`)."""
    user_data: NotRequired[dict[str, pulumi.Input[str]]]
    """Rendered bootstrap per domain name (plain text; encoded here)."""
    tags: NotRequired[dict[str, str]]
    """Tags for every taggable resource."""


PLAN_TIME_ARGS = (
    "instance_type",
    "domains",
    "capacity_type",
    "reservation_id",
    "capacity_block_end",
    "scheduler",
    "kubernetes_version",
    "ami_id",
    "root_volume_gib",
    "partition",
    "tags",
)


class GpuFleet(pulumi.ComponentResource):
    """One fleet of identical accelerated nodes that trains at full fabric speed from the first boot."""

    launch_template_ids: pulumi.Output[dict[str, str]]
    launch_template_versions: pulumi.Output[dict[str, str]]
    instance_role_name: pulumi.Output[str]
    instance_role_arn: pulumi.Output[str]
    drain_deadline: pulumi.Output[str | None]

    def __init__(self, name: str, args: GpuFleetArgs, opts: pulumi.ResourceOptions | None = None):
        require_plan_time("GpuFleet", args, PLAN_TIME_ARGS)
        # The stack config's rules, before anything registers (`component_args`).
        validate_component_args(GpuFleetArgs, args, gpu_fleet_issues)
        image_id = self._image_id(name, args)  # before anything registers
        for domain in args["domains"]:
            reservation_group = domain.get("placement_group") if domain.get("placement") == "reservation" else None
            if reservation_group is not None and not is_placement_group_name(reservation_group):
                raise ValueError(
                    f"GpuFleet '{name}': domain '{domain['name']}' placement_group {reservation_group!r} is not a "
                    "placement group name (1-255 printable ASCII characters, no spaces)"
                )
        super().__init__("aifactory:index:GpuFleet", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        entry = get_instance_type(args["instance_type"])
        scheduler = args.get("scheduler", "none")
        partition = args.get("partition", "aws")
        tags = dict(args.get("tags", {}))
        capacity_type = args.get("capacity_type", "on-demand")
        domains = list(args["domains"])

        role = aws.iam.Role(
            f"{name}-node",
            assume_role_policy=assume_role_policy(service_principal("ec2", partition)),
            tags=tags,
            opts=child,
        )
        for policy in self.managed_policies(scheduler):
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{policy}", role=role.name, policy_arn=managed_policy_arn(partition, policy), opts=child
            )
        profile = None
        if scheduler != "kubernetes":
            # EKS managed node groups reject an instance profile in the launch template.
            profile = aws.iam.InstanceProfile(f"{name}-node", role=role.name, tags=tags, opts=child)

        groups = self._placement_groups(name, domains, tags, child)
        lt_ids: dict[str, pulumi.Output[str]] = {}
        lt_versions: dict[str, pulumi.Output[str]] = {}
        for domain in domains:
            lt = self._launch_template(
                name, entry, domain, args, scheduler, capacity_type, image_id, profile, groups, tags, child
            )
            lt_ids[domain["name"]] = lt.id
            lt_versions[domain["name"]] = lt.latest_version.apply(str)
            if scheduler == "none":
                aws.autoscaling.Group(
                    f"{name}-{domain['name']}",
                    min_size=domain["nodes"],
                    max_size=domain["nodes"],
                    desired_capacity=domain["nodes"],
                    vpc_zone_identifiers=[args["subnet_id"]],
                    launch_template=aws.autoscaling.GroupLaunchTemplateArgs(
                        id=lt.id, version=lt.latest_version.apply(str)
                    ),
                    tags=[
                        aws.autoscaling.GroupTagArgs(key=k, value=v, propagate_at_launch=True) for k, v in tags.items()
                    ],
                    opts=child,
                )

        self.launch_template_ids = pulumi.Output.all(**lt_ids)
        self.launch_template_versions = pulumi.Output.all(**lt_versions)
        self.instance_role_name = role.name
        self.instance_role_arn = role.arn
        self.drain_deadline = pulumi.Output.from_input(drain_deadline(args.get("capacity_block_end")))
        self.register_outputs(
            {
                "launch_template_ids": self.launch_template_ids,
                "launch_template_versions": self.launch_template_versions,
                "instance_role_name": self.instance_role_name,
                "instance_role_arn": self.instance_role_arn,
                "drain_deadline": self.drain_deadline,
            }
        )

    @staticmethod
    def managed_policies(scheduler: str) -> list[str]:
        """AWS managed policies the node role needs: Session Manager, image pulls, the CloudWatch
        agent, and for EKS the worker-node policy (the VPC CNI uses its own pod identity)."""
        policies = ["AmazonSSMManagedInstanceCore", "AmazonEC2ContainerRegistryReadOnly", "CloudWatchAgentServerPolicy"]
        if scheduler == "kubernetes":
            policies.append("AmazonEKSWorkerNodePolicy")
        return policies

    def _placement_groups(
        self, name: str, domains: list[FleetDomainArgs], tags: dict[str, str], child: pulumi.ResourceOptions
    ) -> dict[str, aws.ec2.PlacementGroup]:
        groups: dict[str, aws.ec2.PlacementGroup] = {}
        for domain in domains:
            key = domain.get("placement_group")
            placement = domain.get("placement")
            # Reserved capacity and capacity blocks are already co-located: a forced placement
            # group makes launches fail with InsufficientInstanceCapacity.
            if not key or placement not in ("cluster", "partition") or key in groups:
                continue
            if placement == "partition":
                partitions = max(
                    int(d.get("partition_number") or 1) for d in domains if d.get("placement_group") == key
                )
                groups[key] = aws.ec2.PlacementGroup(
                    f"{name}-{key}", strategy="partition", partition_count=partitions, tags=tags, opts=child
                )
            else:
                groups[key] = aws.ec2.PlacementGroup(f"{name}-{key}", strategy="cluster", tags=tags, opts=child)
        return groups

    @staticmethod
    def _image_id(name: str, args: GpuFleetArgs) -> str:
        """The pinned AMI. For EKS it sits in the launch template, so EKS merges no bootstrap of its own
        and the user data carries the full NodeConfig (EKS user guide, "Customize managed nodes with
        launch templates")."""
        ami_id = args.get("ami_id")
        if not isinstance(ami_id, str) or not AMI_ID.match(ami_id):
            raise ValueError(
                f"GpuFleet '{name}': ami_id {ami_id!r} is not an AMI id (ami- and 8 or 17 hex digits); "
                "pin one in `aifactory:images` with `aifactory images pin <stack>`"
            )
        return ami_id

    def _launch_template(
        self,
        name: str,
        entry: InstanceType,
        domain: FleetDomainArgs,
        args: GpuFleetArgs,
        scheduler: str,
        capacity_type: str,
        image_id: str,
        profile: aws.iam.InstanceProfile | None,
        groups: dict[str, aws.ec2.PlacementGroup],
        tags: dict[str, str],
        child: pulumi.ResourceOptions,
    ) -> aws.ec2.LaunchTemplate:
        slots = efa_interfaces(entry)
        # One Output for the whole layout: p5 has 33 interfaces, and resolving the security groups
        # once instead of per interface keeps large plans fast.
        # Slurm launches instances straight from the template, so its interfaces name the subnet;
        # EKS node groups and autoscaling groups supply the subnet themselves (EKS rejects one here).
        subnet = args["subnet_id"] if scheduler == "slurm" else None
        interfaces = pulumi.Output.all(args["security_group_ids"], subnet).apply(
            lambda values: [
                {
                    "networkCardIndex": slot.network_card_index,
                    "deviceIndex": slot.device_index,
                    "interfaceType": slot.interface_type,
                    "securityGroups": list(values[0]),
                    "deleteOnTermination": "true",
                    "associatePublicIpAddress": "false",
                    **({"subnetId": values[1]} if values[1] else {}),
                }
                for slot in slots
            ]
        )
        placement = None
        group = groups.get(domain.get("placement_group") or "")
        if group is not None:
            placement = aws.ec2.LaunchTemplatePlacementArgs(
                group_name=group.name,
                partition_number=domain.get("partition_number") if domain.get("placement") == "partition" else None,
            )
        elif domain.get("placement") == "reservation" and domain.get("placement_group"):
            # EC2 user guide, "Capacity Reservations for cluster placement groups": instances use a
            # reservation made in a cluster group only when they launch into that group.
            placement = aws.ec2.LaunchTemplatePlacementArgs(group_name=domain.get("placement_group"))
        reservation = None
        market = None
        if capacity_type in ("capacity-reservation", "capacity-block"):
            reservation = aws.ec2.LaunchTemplateCapacityReservationSpecificationArgs(
                capacity_reservation_target=aws.ec2.LaunchTemplateCapacityReservationSpecificationCapacityReservationTargetArgs(
                    capacity_reservation_id=args.get("reservation_id"),
                ),
            )
        if capacity_type == "capacity-block":
            market = aws.ec2.LaunchTemplateInstanceMarketOptionsArgs(market_type="capacity-block")
        elif capacity_type == "spot" and scheduler != "kubernetes":
            market = aws.ec2.LaunchTemplateInstanceMarketOptionsArgs(market_type="spot")
        domain_tags = {**tags, **{k: v for k, v in domain.get("labels", {}).items() if len(k) <= 128}}
        user_data = args.get("user_data", {}).get(domain["name"])
        encoded_user_data: pulumi.Output[str] | None = None
        if user_data is not None:
            encoded_user_data = pulumi.Output.from_input(user_data).apply(
                lambda text: base64.b64encode(text.encode()).decode()
            )
        return aws.ec2.LaunchTemplate(  # type: ignore[misc]  # mypy stops expanding the Input unions here
            f"{name}-{domain['name']}",
            description=f"{entry.name} x{domain['nodes']} in {domain['name']}",
            image_id=image_id,
            instance_type=entry.name,
            update_default_version=True,
            network_interfaces=interfaces,  # type: ignore[arg-type]
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=metadata_hop_limit(scheduler),
                # Slurm nodes read their planned node name from an instance tag at boot.
                instance_metadata_tags="enabled" if scheduler == "slurm" else "disabled",
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name=_ROOT_DEVICE[scheduler],
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_type="gp3",
                        volume_size=args.get("root_volume_gib", 200),
                        encrypted="true",
                        kms_key_id=args.get("kms_key_arn"),
                        delete_on_termination="true",
                        iops=6000,
                        throughput=500,
                    ),
                )
            ],
            iam_instance_profile=(
                aws.ec2.LaunchTemplateIamInstanceProfileArgs(arn=profile.arn) if profile is not None else None
            ),
            placement=placement,
            capacity_reservation_specification=reservation,
            instance_market_options=market,
            user_data=encoded_user_data,
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=domain_tags)
                for kind in ("instance", "volume", "network-interface")
            ],
            tags=tags,
            opts=child,
        )


def metadata_hop_limit(scheduler: str) -> int:
    """The IMDSv2 hop limit of a fleet's nodes: 1 wherever no container needs more.

    * Slurm: jobs run in the host's network namespace (no bridge adds a hop), and the node's own
      daemons run on the host: 1.
    * Kubernetes: pods get AWS credentials from EKS Pod Identity, never from the node role, and
      every pod that needs the metadata service runs with hostNetwork (the VPC CNI, kube-proxy, the
      Pod Identity agent, the node monitoring agent, the FSx CSI node plugin; the FSx CSI controller
      is given its region instead): 1 keeps other pods from the node role's credentials (EKS best
      practices guide, "Restrict access to the instance profile assigned to the worker node").
    * No scheduler: what runs there is the operator's, containers on a bridge network included,
      and they need one more hop (EKS user guide, "Customize managed nodes with launch templates":
      hop limit 2 for containers): 2.
    """
    return 2 if scheduler == "none" else 1


def drain_deadline(block_end: str | None) -> str | None:
    """When a capacity block's jobs must be checkpointed and drained: EC2 reclaims 30 minutes before the end."""
    if not block_end:
        return None
    end = datetime.fromisoformat(block_end.replace("Z", "+00:00"))
    return (end - CAPACITY_BLOCK_RECLAIM).isoformat()
