"""`FactoryNetwork` and `GpuFleet` on their own: a VPC for two zones and two p5 nodes in one cluster
placement group, each node with the full EFA layout (autoscaling groups, no scheduler).

Run it with `pulumi up` in a project whose `__main__.py` calls `main()`, or offline under the mocks:
`python -c "from aifactory.cli.engine import run_program; import examples.network_and_fleet as e;
print(len(run_program({}, 'dev', 'us-east-1', 'aws', e.main).resources))"`.
"""

import pulumi
from aifactory import FactoryNetwork, GpuFleet


def main() -> None:
    network = FactoryNetwork(
        "net",
        {
            "cidr": "10.1.0.0/16",
            "availability_zones": ["us-east-1a", "us-east-1b"],
            "egress": "nat",
            "region": "us-east-1",
        },
    )
    fleet = GpuFleet(
        "gpu",
        {
            "instance_type": "p5.48xlarge",
            # A subnet of the network (or of a VPC you already have) in the fleet's zone.
            "subnet_id": network.private_subnet_ids.apply(lambda ids: ids[0]),
            "security_group_ids": [network.efa_security_group_id, network.node_security_group_id],
            "ami_id": "ami-0123456789abcdef0",  # your region's pinned Deep Learning AMI
            "domains": [{"name": "gpu-d0", "nodes": 2, "placement": "cluster", "placement_group": "gpu-cluster"}],
        },
    )
    pulumi.export("vpc", network.vpc_id)
    pulumi.export("launch_templates", fleet.launch_template_ids)
