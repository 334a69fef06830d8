"""Deploy preflight: over the planned resources, would AWS let the factory work? Reachability of
every flow it needs, use of its key by every service, and reach of every image and package."""

from .registry import RULES, Finding, Rule
from .runner import preflight, run_rules

__all__ = ["RULES", "Finding", "Rule", "preflight", "run_rules"]
