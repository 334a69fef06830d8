"""The number types of the stack config, each defined once.

Every number a stack file gives is strict: a YAML `true` is not a count, `"4"` is not a throughput and
`4.5` is not a node count (pydantic's lax mode would take all three). Floats are finite: `.nan` and
`.inf` are valid YAML but not valid JSON, so they would break `aifactory plan --json` and every
comparison the planner makes. Each field adds its own upper bound (`le=`) with the source of that
bound next to it; the constants here are the bounds more than one field shares.

Both config paths reach these types as Python numbers: the stack YAML parses to int/float, and the
engine's JSON strings are decoded with `json.loads` (`loading._decode`), which gives the same types.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, Strict

Integer = Annotated[int, Strict()]
"""A whole number with no bound of its own: for fields that set their own `ge` (a second lower bound
from a shared type would override it) or whose range a cross-field rule reports (rack power)."""

Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
"""A finite number with no bound of its own (see `Integer`)."""

Count = Annotated[int, Strict(), Field(ge=1)]
"""A whole number of things, at least one (nodes, racks, GiB)."""

NonNegativeInt = Annotated[int, Strict(), Field(ge=0)]
"""A whole number that may be zero (a quota, a retention in days)."""

PositiveFloat = Annotated[float, Strict(), Field(gt=0, allow_inf_nan=False)]
"""A finite number above zero; an int is accepted (`capacityTiB: 10`), a bool or a string is not."""

NonNegativeFloat = Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False)]
"""A finite number of at least zero (a percentage)."""

# FSx API reference, CreateFileSystem: StorageCapacity is an Integer in GiB with a valid range of
# 0-2147483647. No file system (and so no quota the factory plans against) is larger.
FSX_MAX_STORAGE_GIB = 2_147_483_647
GIB_PER_TIB = 1024
FSX_MAX_STORAGE_TIB = FSX_MAX_STORAGE_GIB / GIB_PER_TIB
# FSx for Lustre user guide, "Deployment options" / "Performance": the highest PERSISTENT_2 tier is
# 1000 MB/s per TiB of storage, so no file system can deliver more than that at the largest capacity.
FSX_MAX_PER_UNIT_MBPS_PER_TIB = 1000
FSX_MAX_THROUGHPUT_GBPS = FSX_MAX_STORAGE_TIB * FSX_MAX_PER_UNIT_MBPS_PER_TIB / 1000

MAX_NODES_PER_FLEET = 100_000
"""The largest fleet the planner is sized and benchmarked for (`benchmarks/`: 100k nodes)."""

# Physical sense for a data hall: a GB200 NVL72 rack, the densest rack shipping, draws about
# 120-132 kW (site.py cooling notes); 250 kW leaves room for the next generation and refuses typos of
# a zero too many. 10,000 racks is a hall of about 80 MW at 8 kW per rack and more than 100k nodes at
# ten nodes per rack, the planner's largest fleet.
MAX_RACK_POWER_KW = 250.0
MAX_RACKS = 10_000
# The tallest standard racks are 52-58U (EIA-310 heights); 60U refuses typos like 420.
MAX_RACK_UNITS = 60
# A PUE of 1.0 is a facility with no overhead; 3.0 is above the worst data halls surveyed (Uptime
# Institute Global Data Center Survey averages 1.5-1.6, legacy halls about 2.5).
MIN_PUE, MAX_PUE = 1.0, 3.0

# VPC User Guide, "Network Address Usage for your VPC": a VPC may have 64,000 Network Address Usage units
# by default, raised on request to at most 256,000; a VPC and the VPCs peered with it in the same Region at
# most 512,000 together (128,000 by default), which is what a factory split over peered VPCs shares.
NETWORK_ADDRESS_USAGE_DEFAULT, NETWORK_ADDRESS_USAGE_MAX = 64_000, 256_000
PEERED_NETWORK_ADDRESS_USAGE_MAX = 512_000
