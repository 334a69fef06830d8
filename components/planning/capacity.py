"""Facts about EC2 capacity that several consumers (fleets, Slurm, Kubernetes) schedule around."""

from __future__ import annotations

from datetime import timedelta

CAPACITY_BLOCK_RECLAIM = timedelta(minutes=30)
"""EC2 starts terminating capacity-block instances 30 minutes before the block ends (EC2 user guide,
"Capacity Blocks for ML"): jobs must be checkpointed and drained before then."""
