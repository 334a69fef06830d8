"""Rules for `fleets[].kind`: EC2 fleets name an instance type; hybrid fleets name a server model of the
customer's own and are racked in a data hall (`aifactory:site.kind: datahall`).

A hybrid fleet's servers are the customer's: they join the cluster as EKS Hybrid Nodes (Amazon EKS User
Guide, "Amazon EKS Hybrid Nodes overview": on-premises machines the customer provides and runs) or as
static Slurm nodes, so every EC2-only setting (instance type, capacity, EFA, AMI, root volume, AZ) is
refused on them rather than silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..catalog.servers import servers
from .errors import ConfigIssue, config_path, did_you_mean
from .rules import Rule
from .site import DatahallSite

if TYPE_CHECKING:
    from .model import FactorySpec

# (field name, config key, why it does not apply to the customer's own servers)
_EC2_ONLY: tuple[tuple[str, str, str], ...] = (
    ("instance_type", "instanceType", "the servers are the customer's; `server` names their model"),
    ("capacity", "capacity", "EC2 capacity (on-demand, reservations, blocks) does not apply to owned servers"),
    ("efa", "efa", "EFA is an EC2 network interface; the servers use the NICs the customer cables"),
    ("ami_id", "amiId", "the customer installs the servers' OS; no AMI is launched"),
    ("root_volume_gib", "rootVolumeGiB", "no EBS root volume is created for an owned server"),
    ("availability_zone", "availabilityZone", "the servers are in the customer's data hall, not in an AZ"),
)


def fleet_kind_fields(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """Hybrid: `server` from the catalog and no EC2 field. EC2: `instanceType` and no `server`."""
    catalog = servers()
    for i, fleet in enumerate(spec.fleets):
        at = ("fleets", i)
        if fleet.kind == "ec2":
            if fleet.server is not None:
                yield ConfigIssue(
                    config_path(*at, "server"),
                    "only applies to `kind: hybrid` fleets (the customer's own servers)",
                    "remove `server`, or set `kind: hybrid` and remove the EC2 settings",
                )
            if fleet.instance_type is None:
                yield ConfigIssue(
                    config_path(*at, "instanceType"),
                    "an EC2 fleet needs its instance type",
                    "set `instanceType` (e.g. p5.48xlarge), or `kind: hybrid` with `server` for owned servers",
                )
            continue
        if fleet.server is None:
            yield ConfigIssue(
                config_path(*at, "server"),
                "a hybrid fleet needs the model of its servers",
                f"set `server` to one of {', '.join(sorted(catalog))}",
            )
        elif fleet.server not in catalog:
            yield ConfigIssue(
                config_path(*at, "server"),
                f"'{fleet.server}' is not in the server catalog",
                did_you_mean(fleet.server, catalog),
            )
        for field, key, why in _EC2_ONLY:
            if field in fleet.model_fields_set:
                yield ConfigIssue(config_path(*at, key), f"does not apply to a hybrid fleet: {why}", f"remove `{key}`")


def hybrid_fleets_need_a_data_hall(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """Owned servers are racked by the planner, so they need the halls' racks; racks hold nothing else."""
    hall = isinstance(spec.site, DatahallSite)
    hybrid = [i for i, f in enumerate(spec.fleets) if f.kind == "hybrid"]
    if hybrid and not hall:
        for i in hybrid:
            yield ConfigIssue(
                config_path("fleets", i, "kind"),
                "a hybrid fleet's servers are racked in the customer's data hall and the stack has none",
                "add `aifactory:site` with `kind: datahall` and the halls' racks, or use an EC2 fleet",
            )
    if hall and not hybrid:
        yield ConfigIssue(
            config_path("site", "kind"),
            "a data hall racks the customer's own servers and no fleet is `kind: hybrid`; "
            "EC2 instances cannot be racked",
            "add a `kind: hybrid` fleet with its `server` model, or remove `aifactory:site` "
            "(EC2 fleets are placed on AWS)",
        )


def rack_scale_servers_are_not_scheduled(spec: FactorySpec) -> Iterator[ConfigIssue]:
    """A rack-scale unit (GB200 NVL72) is planned as one unit: a whole rack of 18 compute trays, each its
    own OS and node (NVIDIA DGX GB Rack Scale Systems User Guide, "Hardware"). The factory does not yet
    split a unit into its trays' nodes, so it refuses to give such a fleet to a scheduler rather than
    declare one 72-GPU node that does not exist."""
    if spec.scheduler is None:
        return
    catalog = servers()
    for i, fleet in enumerate(spec.fleets):
        server = catalog.get(fleet.server or "") if fleet.kind == "hybrid" else None
        if server is not None and server.whole_rack:
            yield ConfigIssue(
                config_path("fleets", i, "server"),
                f"'{server.name}' is a rack-scale system of compute-tray nodes, which the "
                f"{spec.scheduler.kind} scheduler cannot be given as one node",
                "plan its racks without `aifactory:scheduler` (install plan, heatmap), or schedule 8-GPU "
                "servers such as dgx-b200",
            )


FLEET_KIND_RULES: tuple[Rule, ...] = (
    fleet_kind_fields,
    hybrid_fleets_need_a_data_hall,
    rack_scale_servers_are_not_scheduled,
)
