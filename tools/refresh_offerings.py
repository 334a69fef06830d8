"""Regenerate components/catalog/data/offerings.json from moto's offering snapshots.

moto keeps `describe-instance-type-offerings` results per region and per Availability Zone,
refreshed from AWS. We keep only the catalog's instance types and the node image recipe's build
instance types (and every region's AZ names) so the
runtime needs neither moto nor network access. Run after `pip install moto` and commit the result:

    python tools/refresh_offerings.py
"""

from __future__ import annotations

import gzip
import json
import sys
from importlib import metadata, resources
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "components" / "catalog" / "data" / "instance_types.yaml"
RECIPE = ROOT / "components" / "catalog" / "data" / "node_image_recipe.yaml"
OUTPUT = ROOT / "components" / "catalog" / "data" / "offerings.json"


def build() -> dict:
    build_types = yaml.safe_load(RECIPE.read_text())["buildInstanceTypes"].values()
    catalog_types = sorted({*yaml.safe_load(CATALOG.read_text()), *build_types})
    base = resources.files("moto").joinpath("ec2/resources/instance_type_offerings/availability-zone")
    regions: dict[str, dict] = {}
    for entry in sorted(base.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".json.gz"):
            continue
        region = entry.name[: -len(".json.gz")]
        offers = json.loads(gzip.decompress(entry.read_bytes()))
        azs = sorted({o["Location"] for o in offers})
        types = {t: sorted({o["Location"] for o in offers if o["InstanceType"] == t}) for t in catalog_types}
        regions[region] = {"azs": azs, "types": {t: z for t, z in types.items() if z}}
    return {
        "source": f"moto {metadata.version('moto')} ec2/resources/instance_type_offerings "
        "(snapshots of EC2 DescribeInstanceTypeOfferings by availability-zone)",
        "regions": regions,
    }


def main() -> int:
    OUTPUT.write_text(json.dumps(build(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
