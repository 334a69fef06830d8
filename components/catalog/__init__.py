"""Hardware catalog and region data."""

from .instance_types import InstanceType, get_instance_type, instance_types

__all__ = ["InstanceType", "get_instance_type", "instance_types"]
