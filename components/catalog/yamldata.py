"""The catalog's YAML data files, parsed by libyaml when PyYAML was built with it.

PyYAML documents `CSafeLoader` as `SafeLoader` with libyaml's C scanner and parser (pyyaml.org,
"PyYAML Documentation", LibYAML bindings); the constructor and resolver are the same, so the values
are too, about ten times faster on these files. A test loads every data file both ways.
"""

from __future__ import annotations

from typing import Any

import yaml

LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=LOADER)  # a safe loader, C or pure Python
