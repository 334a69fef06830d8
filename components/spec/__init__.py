"""The stack config model and its validation."""

from .errors import ConfigError, ConfigIssue
from .loading import load_stack_file, spec_from_config
from .model import FactorySpec

__all__ = ["ConfigError", "ConfigIssue", "FactorySpec", "load_stack_file", "spec_from_config"]
