"""`ParallelFilesystem` on its own: FSx for Lustre sized for a 4 TB checkpoint in 60 seconds, in a
subnet and VPC you already have, reachable from the fleets' security group."""

import pulumi
from aifactory import ParallelFilesystem


def main() -> None:
    fsx = ParallelFilesystem(
        "fsx",
        {
            "subnet_id": "subnet-0123456789abcdef0",
            "vpc_id": "vpc-0123456789abcdef0",
            "client_security_group_id": "sg-0123456789abcdef0",
            "region": "us-east-1",
            "partition": "aws",
            "checkpoint_size_tb": 4.0,
            "checkpoint_seconds": 60.0,
        },
    )
    pulumi.export("file_system", fsx.file_system_id)
    pulumi.export("throughput_gbps", fsx.throughput_gbps)
