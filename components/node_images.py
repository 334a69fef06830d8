"""`NodeImages`: an EC2 Image Builder pipeline per accelerator family, building the node image from the
package's locked recipe (`catalog/data/node_image_recipe.yaml`) on the stack's pinned parent image.

Per build: a Component (the AWSTOE document of `node_image_documents.py`), an ImageRecipe on the
pinned parent AMI, and a DistributionConfiguration in the stack's region that writes the output AMI
id to an SSM parameter, an InfrastructureConfiguration on the family's build instance type in the
factory's private subnet; the pipeline runs only when started (no schedule). Shared: the build
instance's role and instance profile and its security group. Fleets never read the parameter:
`aifactory images pin` records its value under `aifactory:images.node-*`, and `nodeImages.boot` boots
that pin.
"""

from __future__ import annotations

import json
from typing import NotRequired, Required, TypedDict

import pulumi
import pulumi_aws as aws

# `pulumi.Input[T]` is `T | Awaitable[T] | "Output[T]"`, the last a string that `typing.get_type_hints`
# of this module's Args TypedDicts resolves in this module's namespace.
from pulumi.output import Output, T  # noqa: F401

from .arns import assume_role_policy, endpoint_service_name, managed_policy_arn, service_principal
from .node_image_documents import component_document, document_yaml
from .planning.node_images import ImageBuild

# Image Builder user guide, "Prerequisites" ("IAM requirements"): the instance profile of a build
# instance needs EC2InstanceProfileForImageBuilder (components, logs, the Image Builder buckets) and
# AmazonSSMManagedInstanceCore (Image Builder drives the build through Systems Manager).
BUILD_INSTANCE_POLICIES = ("EC2InstanceProfileForImageBuilder", "AmazonSSMManagedInstanceCore")
# The root volume the recipe gives the image: the drivers, CUDA and the Slurm build need tens of GiB.
ROOT_VOLUME_GIB = 100
# The parent images' root devices: AL2023 `/dev/xvda`, Ubuntu `/dev/sda1` (EC2 user guide, "Device
# names on Linux instances").
ROOT_DEVICE = {"al2023": "/dev/xvda", "ubuntu2404": "/dev/sda1"}


def image_builder_name(factory: str, key: str) -> str:
    """Image Builder resource names allow letters, digits, `-`, `_` and spaces, not `.` (Image Builder
    API reference, CreateImageRecipe `name`)."""
    return f"{factory}-{key}".replace(".", "-")


def artifact_read_policy(partition: str, bucket: str, prefix: str) -> str:
    """Read access to the recipe's artifacts in the stack's bucket, nothing else of it."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ListArtifacts",
                    "Effect": "Allow",
                    "Action": ["s3:ListBucket"],
                    "Resource": f"arn:{partition}:s3:::{bucket}",
                    "Condition": {"StringLike": {"s3:prefix": [f"{prefix}/*"]}},
                },
                {
                    "Sid": "ReadArtifacts",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject"],
                    "Resource": f"arn:{partition}:s3:::{bucket}/{prefix}/*",
                },
            ],
        }
    )


class NodeImagesArgs(TypedDict):
    """Inputs of `NodeImages`; the builds themselves come from the plan (`builds=`)."""

    region: Required[str]
    """AWS region the images are built and distributed in."""
    partition: NotRequired[str]
    """AWS partition of the region."""
    vpc_id: Required[pulumi.Input[str]]
    """The factory's VPC."""
    vpc_cidr: Required[str]
    """Its CIDR (the Image Builder interface endpoint admits it)."""
    subnet_id: Required[pulumi.Input[str]]
    """The private subnet the build instances run in."""
    image_builder_endpoint: NotRequired[bool]
    """Create an `imagebuilder` interface endpoint (stacks without internet egress)."""
    kms_key_arn: NotRequired[pulumi.Input[str] | None]
    """Customer-managed key for the components and the built AMIs (sovereign)."""
    tags: NotRequired[dict[str, str]]
    """Tags for every taggable resource."""


class NodeImages(pulumi.ComponentResource):
    """The Image Builder pipelines of the stack's node images."""

    pipeline_arns: dict[str, pulumi.Output[str]]
    """By images key (`node-slurm-nvidia`)."""
    parameters: dict[str, str]
    """The SSM parameter each pipeline writes its AMI id to, by images key."""

    def __init__(
        self,
        name: str,
        args: NodeImagesArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        builds: tuple[ImageBuild, ...],
    ):
        super().__init__("aifactory:index:NodeImages", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        partition = args.get("partition", "aws")
        region = args["region"]
        tags = dict(args.get("tags", {}))
        kms_key_arn = args.get("kms_key_arn")

        role = aws.iam.Role(
            f"{name}-build",
            assume_role_policy=assume_role_policy(service_principal("ec2", partition)),
            description="aifactory node image build instances (EC2 Image Builder)",
            tags=tags,
            opts=child,
        )
        for policy in BUILD_INSTANCE_POLICIES:
            aws.iam.RolePolicyAttachment(
                f"{name}-build-{policy}", role=role.name, policy_arn=managed_policy_arn(partition, policy), opts=child
            )
        sources = {(b.artifact_bucket, b.artifact_prefix) for b in builds if b.artifact_bucket is not None}
        if sources:
            ((bucket, prefix),) = sources  # one bucket per stack (`nodeImages.artifactBucket`)
            aws.iam.RolePolicy(
                f"{name}-build-artifacts",
                role=role.id,
                policy=artifact_read_policy(partition, bucket, prefix),
                opts=child,
            )
        profile = aws.iam.InstanceProfile(f"{name}-build", role=role.name, tags=tags, opts=child)

        group = aws.ec2.SecurityGroup(
            f"{name}-build",
            vpc_id=args["vpc_id"],
            description="aifactory node image builds: HTTPS out only",
            tags={**tags, "Name": f"{name}-build"},
            opts=child,
        )
        # Out: HTTPS only: Systems Manager and Image Builder (interface endpoints or the internet), S3
        # (the gateway endpoint, at S3's public addresses) and, with egress, the vendors' downloads.
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-build-https",
            security_group_id=group.id,
            cidr_ipv4="0.0.0.0/0",
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            description="HTTPS to VPC endpoints, the S3 gateway endpoint and the artifacts' sources",
            tags=tags,
            opts=child,
        )
        if args.get("image_builder_endpoint", False):
            # Without egress the build instance reaches Image Builder only through its interface
            # endpoint (Image Builder user guide, "Image Builder and interface VPC endpoints").
            endpoint_group = aws.ec2.SecurityGroup(
                f"{name}-imagebuilder-endpoint",
                vpc_id=args["vpc_id"],
                description="aifactory Image Builder endpoint: HTTPS from the VPC",
                tags={**tags, "Name": f"{name}-imagebuilder-endpoint"},
                opts=child,
            )
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-imagebuilder-endpoint-https",
                security_group_id=endpoint_group.id,
                cidr_ipv4=args["vpc_cidr"],
                ip_protocol="tcp",
                from_port=443,
                to_port=443,
                description="HTTPS from the VPC",
                tags=tags,
                opts=child,
            )
            aws.ec2.VpcEndpoint(
                f"{name}-imagebuilder",
                vpc_id=args["vpc_id"],
                service_name=endpoint_service_name(region, partition, "imagebuilder"),
                vpc_endpoint_type="Interface",
                subnet_ids=[args["subnet_id"]],
                security_group_ids=[endpoint_group.id],
                private_dns_enabled=True,
                tags={**tags, "Name": f"{name}-imagebuilder"},
                opts=child,
            )

        self.pipeline_arns = {}
        self.parameters = {}
        for build in builds:
            if build.parent_image is None:
                raise ValueError(f"{build.key}: the parent image {build.parent_key} is not pinned")
            label = image_builder_name(name, build.key)
            # One per build: Image Builder launches the first listed instance type it has capacity for, and
            # a family's validate phase needs that family's devices.
            infrastructure = aws.imagebuilder.InfrastructureConfiguration(
                f"{name}-{build.key}",
                name=label,
                description=f"aifactory {build.key} builds in the factory's private subnet",
                instance_profile_name=profile.name,
                instance_types=[build.build_instance_type],
                subnet_id=args["subnet_id"],
                security_group_ids=[group.id],
                terminate_instance_on_failure=True,
                instance_metadata_options={"http_tokens": "required", "http_put_response_hop_limit": 1},
                resource_tags=tags,
                tags=tags,
                opts=child,
            )
            component = aws.imagebuilder.Component(
                f"{name}-{build.key}",
                name=label,
                platform="Linux",
                version=build.recipe_version,
                data=document_yaml(component_document(build)),
                kms_key_id=kms_key_arn,
                description=f"aifactory {build.key}: the locked recipe {build.recipe_version}",
                tags=tags,
                opts=child,
            )
            recipe = aws.imagebuilder.ImageRecipe(
                f"{name}-{build.key}",
                name=label,
                version=build.recipe_version,
                parent_image=build.parent_image,
                components=[{"component_arn": component.arn}],
                block_device_mappings=[
                    {
                        "device_name": ROOT_DEVICE[build.base_os],
                        "ebs": {
                            "volume_size": ROOT_VOLUME_GIB,
                            "volume_type": "gp3",
                            "encrypted": "true",
                            "kms_key_id": kms_key_arn,
                            "delete_on_termination": "true",
                        },
                    }
                ],
                tags=tags,
                opts=child,
            )
            distribution = aws.imagebuilder.DistributionConfiguration(
                f"{name}-{build.key}",
                name=label,
                distributions=[
                    {
                        "region": region,
                        "ami_distribution_configuration": {
                            "name": f"{label}-{{{{ imagebuilder:buildDate }}}}",
                            "kms_key_id": kms_key_arn,
                            "ami_tags": {**tags, "aifactory:image": build.key},
                        },
                        # Image Builder user guide, "Configure AMI distribution with SSM parameters":
                        # the output AMI id, which `aifactory images pin` reads.
                        "ssm_parameter_configurations": [
                            {"parameter_name": build.parameter, "data_type": "aws:ec2:image"}
                        ],
                    }
                ],
                tags=tags,
                opts=child,
            )
            pipeline = aws.imagebuilder.ImagePipeline(
                f"{name}-{build.key}",
                name=label,
                description=f"aifactory {build.key}; run with `aws imagebuilder start-image-pipeline-execution`",
                image_recipe_arn=recipe.arn,
                infrastructure_configuration_arn=infrastructure.arn,
                distribution_configuration_arn=distribution.arn,
                # No schedule: an image is built only when started, and booted only once pinned.
                image_tests_configuration={"image_tests_enabled": True},
                status="ENABLED",
                tags=tags,
                opts=child,
            )
            self.pipeline_arns[build.key] = pipeline.arn
            self.parameters[build.key] = build.parameter
        self.register_outputs({"pipeline_arns": self.pipeline_arns})
