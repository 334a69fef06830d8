"""`SlurmScheduler` on its own: the Slurm files come from a plan (`plan_factory`), the head node and the
compute nodes go into a VPC, subnet and launch template you already have."""

import pulumi
from aifactory import SlurmScheduler, plan_factory, spec_from_config

IMAGES = {"dlami-nvidia": "ami-0a3c5e7f9b1d24680", "slurm-head": "ami-0b4d6f8a0c2e35791"}  # your region's pins


def main() -> None:
    spec = spec_from_config(
        {
            "aws:region": "us-east-1",
            "aifactory:profile": "commercial",
            "aifactory:fleets": [{"name": "train", "instanceType": "p5.48xlarge", "count": 2}],
            "aifactory:scheduler": {"kind": "slurm", "partitions": [{"name": "train", "fleets": ["train"]}]},
            "aifactory:images": IMAGES,
        }
    )
    slurm = plan_factory(spec, "research").slurm
    assert slurm is not None
    scheduler = SlurmScheduler(
        "slurm",
        {
            "cluster_name": slurm.cluster_name,
            "controller_host": slurm.controller_host,
            "version": "23.11",
            "config_files": dict(slurm.config_files),
            "region": "us-east-1",
            "vpc_id": "vpc-0123456789abcdef0",
            "subnet_id": "subnet-0123456789abcdef0",
            "fleet_security_group_ids": ["sg-0123456789abcdef0"],
            "compute_groups": [
                {
                    "domain": group.domain,
                    "launch_template_id": "lt-0123456789abcdef0",
                    "launch_template_version": "1",
                    "capacity": group.capacity,
                    "hostnames": list(group.hostnames),
                }
                for group in slurm.compute_groups
            ],
            "head_ami_id": IMAGES["slurm-head"],
        },
    )
    pulumi.export("controller", scheduler.controller_address)
