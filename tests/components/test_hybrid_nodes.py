"""The AWS side of a data hall under the mock engine: cluster remote networks, hybrid node identity, link,
routes and security group rules, for EKS (SSM and Roles Anywhere; VPN and Direct Connect) and Slurm."""

from __future__ import annotations

import copy
import json
from typing import Any

from aifactory.factory import AiFactory
from aifactory.planning.factory_plan import plan_from_config

from tests.conftest import PlannedProgram, RunProgram
from tests.stackfiles import PINNED_IMAGES

CA = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ0FfY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
NODES, PODS = ["192.168.0.0/20"], ["192.168.64.0/18"]

CONFIG: dict[str, Any] = {
    "aws:region": "us-east-1",
    "aifactory:profile": "commercial",
    "aifactory:images": PINNED_IMAGES,
    "aifactory:network": {"cidr": "10.0.0.0/16", "availabilityZones": ["us-east-1a", "us-east-1b"]},
    "aifactory:fleets": [
        {"name": "train", "instanceType": "p5.48xlarge", "count": 2, "availabilityZone": "us-east-1a"},
        {"name": "hall", "kind": "hybrid", "server": "dgx-h100", "count": 3},
    ],
    "aifactory:site": {"kind": "datahall", "racks": 4},
    "aifactory:scheduler": {"kind": "kubernetes", "endpoint": "private"},
    "aifactory:hybrid": {
        "remoteNodeCidrs": NODES,
        "remotePodCidrs": PODS,
        "credentials": {"kind": "ssm"},
        "link": {"kind": "vpn", "customerGatewayIp": "81.2.69.160", "bgpAsn": 65010},
    },
}


def plan(run_program: RunProgram, **hybrid: Any) -> PlannedProgram:
    config = copy.deepcopy(CONFIG)
    config["aifactory:hybrid"].update(hybrid)
    factory_plan = plan_from_config(config, "hall")
    return run_program(lambda: AiFactory("hall", {}, plan=factory_plan), config, stack="hall")


def test_cluster_gets_the_remote_networks_and_stays_api_ipv4(run_program: RunProgram) -> None:
    cluster = plan(run_program).one("aws:eks/cluster:Cluster").inputs
    assert cluster["remoteNetworkConfig"] == {
        "remoteNodeNetworks": {"cidrs": NODES},
        "remotePodNetworks": {"cidrs": PODS},
    }
    # EKS user guide, "Create an Amazon EKS cluster with hybrid nodes": API auth mode, IPv4, not public+private.
    assert cluster["accessConfig"]["authenticationMode"] == "API"
    assert cluster["kubernetesNetworkConfig"]["ipFamily"] == "ipv4"
    assert not (cluster["vpcConfig"]["endpointPublicAccess"] and cluster["vpcConfig"]["endpointPrivateAccess"])


def test_a_stack_without_hybrid_fleets_has_no_remote_network(run_program: RunProgram) -> None:
    config = copy.deepcopy(CONFIG)
    del config["aifactory:hybrid"], config["aifactory:site"]
    config["aifactory:fleets"] = config["aifactory:fleets"][:1]
    factory_plan = plan_from_config(config, "hall")
    planned = run_program(lambda: AiFactory("hall", {}, plan=factory_plan), config, stack="hall")
    assert "remoteNetworkConfig" not in planned.one("aws:eks/cluster:Cluster").inputs
    assert not planned.of_type("aws:ec2/vpnGateway:VpnGateway")


def test_ssm_role_activation_and_access_entry(run_program: RunProgram) -> None:
    planned = plan(run_program)
    role = planned.named("hall-hybrid-node", "aws:iam/role:Role").inputs
    (statement,) = json.loads(role["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"Service": "ssm.amazonaws.com"}
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    assert statement["Condition"]["ArnLike"] == {"aws:SourceArn": "arn:aws:ssm:us-east-1:123456789012:*"}
    attached = {
        r.inputs["policyArn"]
        for r in planned.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if r.name.startswith("hall-hybrid-node-")
    }
    assert {
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
        "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
    } <= attached
    inline = json.loads(planned.named("hall-hybrid-node", "aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    actions = {s["Action"]: s for s in inline["Statement"]}
    assert actions["eks:DescribeCluster"]["Resource"] == "arn:aws:eks:us-east-1:123456789012:cluster/hall-eks"
    deregister = actions["ssm:DeregisterManagedInstance"]["Condition"]["StringEquals"]
    assert deregister == {"ssm:resourceTag/EKSClusterARN": "arn:aws:eks:us-east-1:123456789012:cluster/hall-eks"}
    activation = planned.one("aws:ssm/activation:Activation")
    assert activation.inputs["registrationLimit"] == 3  # the hybrid fleet's servers
    assert activation.inputs["expirationDate"] == "2026-12-01T00:00:00Z"  # plan time + 30 days
    entries = [r for r in planned.of_type("aws:eks/accessEntry:AccessEntry") if r.inputs["type"] == "HYBRID_LINUX"]
    assert [e.name for e in entries] == ["hall-hybrid-node"]
    assert not planned.of_type("aws:rolesanywhere/trustAnchor:TrustAnchor")


def test_roles_anywhere_trust_anchor_profile_and_trust(run_program: RunProgram) -> None:
    planned = plan(run_program, credentials={"kind": "roles-anywhere", "caCertificate": CA})
    anchor = planned.one("aws:rolesanywhere/trustAnchor:TrustAnchor").inputs
    assert anchor["source"] == {"sourceType": "CERTIFICATE_BUNDLE", "sourceData": {"x509CertificateData": CA.strip()}}
    profile = planned.one("aws:rolesanywhere/profile:Profile").inputs
    assert profile["acceptRoleSessionName"] is True
    role = planned.named("hall-hybrid-node", "aws:iam/role:Role")
    assert profile["roleArns"] == ["arn:aws:iam::123456789012:role/" + role.id]
    statements = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    anchor_arn = planned.one("aws:rolesanywhere/trustAnchor:TrustAnchor").state["arn"]
    assert {s["Principal"]["Service"] for s in statements} == {"rolesanywhere.amazonaws.com"}
    assert all(s["Condition"]["ArnLike"]["aws:SourceArn"] == anchor_arn for s in statements)
    assume = next(s for s in statements if s["Action"] == ["sts:AssumeRole"])
    assert assume["Condition"]["StringEquals"]["sts:RoleSessionName"] == "${aws:PrincipalTag/x509Subject/CN}"
    attached = {
        r.inputs["policyArn"]
        for r in planned.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if r.name.startswith("hall-hybrid-node-")
    }
    assert "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore" not in attached
    assert not planned.of_type("aws:ssm/activation:Activation")


def test_vpn_link_routes_every_remote_network_from_every_private_table(run_program: RunProgram) -> None:
    planned = plan(run_program, link={"kind": "vpn", "customerGatewayIp": "81.2.69.160", "staticRoutes": True})
    vgw = planned.one("aws:ec2/vpnGateway:VpnGateway")
    cgw = planned.one("aws:ec2/customerGateway:CustomerGateway").inputs
    assert (cgw["ipAddress"], cgw["bgpAsn"], cgw["type"]) == ("81.2.69.160", "65000", "ipsec.1")
    vpn = planned.one("aws:ec2/vpnConnection:VpnConnection").inputs
    assert vpn["staticRoutesOnly"] is True and vpn["vpnGatewayId"] == vgw.id
    assert {
        r.inputs["destinationCidrBlock"] for r in planned.of_type("aws:ec2/vpnConnectionRoute:VpnConnectionRoute")
    } == {
        *NODES,
        *PODS,
    }
    tables = {r.id for r in planned.of_type("aws:ec2/routeTable:RouteTable") if "private" in r.name}
    routes = {
        (r.inputs["routeTableId"], r.inputs["destinationCidrBlock"])
        for r in planned.of_type("aws:ec2/route:Route")
        if r.inputs.get("gatewayId") == vgw.id
    }
    assert routes == {(t, c) for t in tables for c in [*NODES, *PODS]}
    assert len(tables) == 2


def test_direct_connect_associates_the_gateway_with_the_vpc_prefix(run_program: RunProgram) -> None:
    dx = {"kind": "direct-connect", "directConnectGatewayId": "5f294f92-bafb-4011-916d-9b0bdeadbeef"}
    planned = plan(run_program, link=dx)
    association = planned.one("aws:directconnect/gatewayAssociation:GatewayAssociation").inputs
    assert association["dxGatewayId"] == dx["directConnectGatewayId"]
    assert association["associatedGatewayId"] == planned.one("aws:ec2/vpnGateway:VpnGateway").id
    assert association["allowedPrefixes"] == ["10.0.0.0/16"]
    assert not planned.of_type("aws:ec2/vpnConnection:VpnConnection")


def test_cluster_security_group_rules_for_remote_networks(run_program: RunProgram) -> None:
    planned = plan(run_program)
    cluster_sg = planned.one("aws:eks/cluster:Cluster").state["vpcConfig"]["clusterSecurityGroupId"]
    rules = {
        (
            r.type.rsplit(":", 1)[1],
            r.inputs["cidrIpv4"],
            r.inputs["ipProtocol"],
            r.inputs["fromPort"],
            r.inputs["toPort"],
        )
        for r in planned.resources
        if r.type.startswith("aws:vpc/securityGroup") and r.inputs.get("securityGroupId") == cluster_sg
    }
    assert rules == {
        ("SecurityGroupIngressRule", NODES[0], "tcp", 443, 443),
        ("SecurityGroupEgressRule", NODES[0], "tcp", 10250, 10250),
        ("SecurityGroupIngressRule", PODS[0], "tcp", 443, 443),
        ("SecurityGroupEgressRule", PODS[0], "tcp", 1, 65535),
        ("SecurityGroupIngressRule", PODS[0], "tcp", 53, 53),
        ("SecurityGroupIngressRule", PODS[0], "udp", 53, 53),
    }


def test_slurm_head_admits_the_data_hall_and_reaches_its_slurmd(run_program: RunProgram) -> None:
    config = copy.deepcopy(CONFIG)
    config["aifactory:network"]["egress"] = "none"
    config["aifactory:scheduler"] = {
        "kind": "slurm",
        "partitions": [{"name": "all", "fleets": ["train", "hall"], "default": True}],
    }
    config["aifactory:hybrid"] = {
        "remoteNodeCidrs": NODES,
        "link": {"kind": "vpn", "customerGatewayIp": "81.2.69.160"},
    }
    factory_plan = plan_from_config(config, "hall")
    planned = run_program(lambda: AiFactory("hall", {}, plan=factory_plan), config, stack="hall")
    head = planned.named("hall-slurm-head", "aws:ec2/securityGroup:SecurityGroup")
    from_hall = {
        (r.inputs["fromPort"], r.inputs["toPort"])
        for r in planned.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.inputs.get("cidrIpv4") == NODES[0] and r.inputs["securityGroupId"] == head.id
    }
    assert from_hall == {(6817, 6819), (60001, 63000)}  # Slurm ports and srun, not the munge share
    egress = [e for e in head.inputs["egress"] if e.get("cidrBlocks") == NODES]
    assert [(e["fromPort"], e["toPort"]) for e in egress] == [(6818, 6818)]
    # Slurm's servers need no EKS identity.
    assert not planned.of_type("aws:ssm/activation:Activation")
    assert not [r for r in planned.of_type("aws:iam/role:Role") if r.name == "hall-hybrid-node"]
    assert planned.one("aws:ec2/vpnConnection:VpnConnection")


def test_the_cluster_stack_installs_cilium_for_the_remote_pods() -> None:
    from aifactory.factory import plan_cluster_settings

    settings = plan_cluster_settings(plan_from_config(copy.deepcopy(CONFIG), "hall"), None)
    assert tuple(settings.remote_pod_cidrs) == tuple(PODS)
