"""Write the generated stack-file documents from the config model:

- `schema/stack.schema.json`: the stack file's JSON Schema (what `aifactory schema` prints), for editors;
- `docs/reference.md`: the per-key reference (what `aifactory schema --markdown` prints).

Run after changing a key in `components/spec/`: `python tools/gen_reference.py`; `tests/spec/test_schema.py`
fails while either file is stale.
"""

from __future__ import annotations

from pathlib import Path

from aifactory.spec.reference import reference_text
from aifactory.spec.schema import schema_text

ROOT = Path(__file__).resolve().parent.parent
OUTPUTS = {ROOT / "schema" / "stack.schema.json": schema_text, ROOT / "docs" / "reference.md": reference_text}


def main() -> None:
    for path, text in OUTPUTS.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text())
        print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
