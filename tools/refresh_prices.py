"""Regenerate components/catalog/data/prices/<region>.yaml from the AWS Price List bulk files.

The bulk files are public JSON (AWS Billing user guide, "Getting price list files manually" and
"Reading the price list files"): the service index at OFFER_INDEX_URL names each service's
`currentRegionIndexUrl`; a service's region index names each region's `currentVersionUrl`; that
offer file has `publicationDate`, `version`, `products` (sku -> `productFamily`, `attributes`) and
`terms` (`OnDemand` / `Reserved` -> sku -> offer -> `priceDimensions` -> `unit`, `pricePerUnit.USD`).
We keep the On-Demand prices of the catalog's instance types and the FSx for Lustre SSD storage
prices; a table's capacity-block rates and metadata prices are not in those files and are kept as
they were. Run by maintainers with network access (never by the tests or CI), then review the diff:

    python tools/refresh_prices.py                 # DEFAULT_REGIONS
    python tools/refresh_prices.py us-west-2 ...   # these regions

The EC2 offer file of a large region is over a gigabyte of JSON; it is read whole.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from aifactory.planning.storage_sizing import PERSISTENT_2_TIERS, SCRATCH_2_BASELINE

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "components" / "catalog" / "data" / "instance_types.yaml"
OUTPUT_DIR = ROOT / "components" / "catalog" / "data" / "prices"

# AWS Billing user guide, "Getting price list files manually", step 1: the service index file.
PRICE_LIST_BASE = "https://pricing.us-east-1.amazonaws.com"
OFFER_INDEX_URL = f"{PRICE_LIST_BASE}/offers/v1.0/aws/index.json"
EC2_OFFER = "AmazonEC2"
FSX_OFFER = "AmazonFSx"
DEFAULT_REGIONS = ("us-east-1", "us-east-2", "us-west-2", "eu-north-1", "us-gov-west-1")

# The On-Demand price a Linux fleet pays: product attributes of the AmazonEC2 offer file. A SKU whose
# capacitystatus is not "Used" prices unused reservation capacity, not running instances.
EC2_PRODUCT_FAMILY = "Compute Instance"
EC2_ATTRIBUTES = {
    "operatingSystem": "Linux",
    "tenancy": "Shared",
    "preInstalledSw": "NA",
    "capacitystatus": "Used",
    "licenseModel": "No License required",
}
HOURLY_UNIT = "Hrs"

# FSx for Lustre SSD storage in the AmazonFSx offer file. These attribute names are not in the
# user guide (they are the offer file's own); `main` refuses to write a table for a region whose
# file matches no SKU here, so a renamed attribute fails loudly instead of dropping the prices.
FSX_FILE_SYSTEM_TYPE = "Lustre"
FSX_STORAGE_MEDIA = "SSD"
FSX_DEPLOYMENTS = {"persistent2": "PERSISTENT_2", "scratch2": "SCRATCH_2"}
GB_MONTH_UNIT = "GB-Mo"
MBPS_MONTH_UNIT = "MBps-Mo"

SOURCE_EC2 = "EC2"
SOURCE_FSX = "FSX"
HEADER = """\
# Prices in {region}, USD. Layout and rules: components/catalog/prices.py.
# Written by tools/refresh_prices.py: `ec2.on_demand` and `fsx_lustre` come from the AWS Price List
# bulk files named under `sources`; the other sections are kept from the previous table.

"""


def fetch_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url) as response:
        return json.load(response)


def region_offer_url(region_index: dict[str, Any], region: str) -> str | None:
    """The absolute URL of the region's current offer file (None when the service is not offered there);
    the indexes' URLs are relative to PRICE_LIST_BASE (user guide, "Service Region index file")."""
    entry = region_index.get("regions", {}).get(region)
    return f"{PRICE_LIST_BASE}{entry['currentVersionUrl']}" if entry else None


def _on_demand_dimensions(offer: dict[str, Any], sku: str) -> list[dict[str, Any]]:
    """Every price dimension of the SKU's On-Demand terms; Reserved and other terms are never read."""
    terms = offer.get("terms", {}).get("OnDemand", {}).get(sku, {})
    return [d for term in terms.values() for d in term.get("priceDimensions", {}).values()]


def _usd(dimension: dict[str, Any]) -> float:
    return float(dimension["pricePerUnit"]["USD"])


def ec2_on_demand(offer: dict[str, Any], region: str, instance_types: set[str]) -> dict[str, float]:
    """Instance type -> Linux On-Demand USD per hour in `region`, for the given types."""
    prices: dict[str, float] = {}
    for sku, product in offer.get("products", {}).items():
        attrs = product.get("attributes", {})
        if product.get("productFamily") != EC2_PRODUCT_FAMILY or attrs.get("regionCode") != region:
            continue
        if attrs.get("instanceType") not in instance_types:
            continue
        if any(attrs.get(k) != v for k, v in EC2_ATTRIBUTES.items()):
            continue
        hourly = [d for d in _on_demand_dimensions(offer, sku) if d.get("unit") == HOURLY_UNIT]
        if len(hourly) != 1:
            raise ValueError(f"{region} {attrs['instanceType']} (sku {sku}): {len(hourly)} hourly On-Demand prices")
        instance_type = attrs["instanceType"]
        if instance_type in prices:
            raise ValueError(f"{region} {instance_type}: two SKUs match the Linux On-Demand filter")
        prices[instance_type] = _usd(hourly[0])
    return prices


def _fsx_tier(attrs: dict[str, Any]) -> tuple[str, int] | None:
    deployment = FSX_DEPLOYMENTS.get(str(attrs.get("deploymentOption", "")).replace(" ", "").replace("_", "").lower())
    if deployment is None:
        return None
    if deployment == "SCRATCH_2":
        return deployment, SCRATCH_2_BASELINE
    throughput = str(attrs.get("throughputCapacity", ""))
    if not throughput.isdigit() or int(throughput) not in PERSISTENT_2_TIERS:
        return None
    return deployment, int(throughput)


def fsx_lustre(offer: dict[str, Any], region: str) -> dict[str, dict[int, dict[str, float]]]:
    """Deployment type -> MB/s/TiB -> {usd_per_gb_month, usd_per_mbps_month} for SSD Lustre in `region`."""
    tiers: dict[str, dict[int, dict[str, float]]] = {}
    for sku, product in offer.get("products", {}).items():
        attrs = product.get("attributes", {})
        if attrs.get("regionCode") != region or attrs.get("fileSystemType") != FSX_FILE_SYSTEM_TYPE:
            continue
        if attrs.get("storageMedia", attrs.get("storageType")) != FSX_STORAGE_MEDIA:
            continue
        tier = _fsx_tier(attrs)
        if tier is None:
            continue
        entry = tiers.setdefault(tier[0], {}).setdefault(tier[1], {"usd_per_gb_month": 0.0, "usd_per_mbps_month": 0.0})
        for dimension in _on_demand_dimensions(offer, sku):
            if dimension.get("unit") == GB_MONTH_UNIT:
                entry["usd_per_gb_month"] = _usd(dimension)
            elif dimension.get("unit") == MBPS_MONTH_UNIT:
                entry["usd_per_mbps_month"] = _usd(dimension)
    return {kind: {t: p for t, p in sorted(by.items()) if p["usd_per_gb_month"] > 0} for kind, by in tiers.items()}


def _source_text(url: str, offer: dict[str, Any]) -> str:
    return f"AWS Price List bulk file {url} (publicationDate {offer['publicationDate']}, version {offer['version']})"


def build_table(
    region: str,
    ec2: tuple[str, dict[str, Any]] | None,
    fsx: tuple[str, dict[str, Any]] | None,
    instance_types: set[str],
    previous: dict[str, Any] | None,
    today: dt.date,
) -> dict[str, Any]:
    """The region's table: On-Demand and FSx from the offer files given (each a URL and its JSON),
    every other section, and any section whose offer file is missing, from `previous`. Only the
    sources a price names are kept."""
    previous = previous or {}
    old_ec2 = previous.get("ec2") or {}
    sources = dict(previous.get("sources") or {})
    on_demand = old_ec2.get("on_demand") or {}
    if ec2 is not None:
        url, offer = ec2
        date = str(offer["publicationDate"])[:10]
        prices = ec2_on_demand(offer, region, instance_types)
        on_demand = {t: {"usd": usd, "source": SOURCE_EC2, "date": date} for t, usd in sorted(prices.items())}
        sources[SOURCE_EC2] = _source_text(url, offer)
    lustre = previous.get("fsx_lustre") or {}
    if fsx is not None:
        url, offer = fsx
        date = str(offer["publicationDate"])[:10]
        tiers = fsx_lustre(offer, region)
        lustre = {
            kind: {t: {**p, "source": SOURCE_FSX, "date": date} for t, p in by.items()} for kind, by in tiers.items()
        }
        sources[SOURCE_FSX] = _source_text(url, offer)
    ec2_section = {"on_demand": on_demand, "capacity_block": old_ec2.get("capacity_block") or {}}
    sections: dict[str, Any] = {
        "ec2": {k: v for k, v in ec2_section.items() if v},
        "fsx_lustre": lustre,
        "fsx_lustre_metadata": previous.get("fsx_lustre_metadata") or {},
    }
    entries = [
        *ec2_section["on_demand"].values(),
        *ec2_section["capacity_block"].values(),
        *(p for by in lustre.values() for p in by.values()),
        *sections["fsx_lustre_metadata"].values(),
    ]
    named = {p["source"] for p in entries}
    kept = {k: v for k, v in sources.items() if k in named}
    return {"region": region, "date": today.isoformat(), "sources": kept, **{k: v for k, v in sections.items() if v}}


def _offer(service: str, offer_index: dict[str, Any], region: str) -> tuple[str, dict[str, Any]] | None:
    region_index = fetch_json(f"{PRICE_LIST_BASE}{offer_index['offers'][service]['currentRegionIndexUrl']}")
    url = region_offer_url(region_index, region)
    return (url, fetch_json(url)) if url else None


def main(argv: list[str]) -> int:
    regions = tuple(argv) or DEFAULT_REGIONS
    instance_types = set(yaml.safe_load(CATALOG.read_text()))
    offer_index = fetch_json(OFFER_INDEX_URL)
    failed = False
    for region in regions:
        ec2, fsx = _offer(EC2_OFFER, offer_index, region), _offer(FSX_OFFER, offer_index, region)
        if ec2 is None and fsx is None:
            print(f"{region}: not in the price list's region indexes; no table written")
            continue
        path = OUTPUT_DIR / f"{region}.yaml"
        previous = yaml.safe_load(path.read_text()) if path.exists() else None
        table = build_table(region, ec2, fsx, instance_types, previous, dt.datetime.now(dt.UTC).date())
        if fsx is not None and "fsx_lustre" not in table:
            print(f"{region}: the FSx offer file matched no Lustre SSD SKU (attribute names changed?); not written")
            failed = True
            continue
        path.write_text(HEADER.format(region=region) + yaml.safe_dump(table, sort_keys=False, width=110))
        print(f"wrote {path.relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
