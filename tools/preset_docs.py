"""Regenerate the preset tables of docs/targets.md from the preset files.

Run ``python -m tools.preset_docs`` after editing a preset; tests/test_presets.py checks that the
tables between the ``preset-rows`` markers are current.
"""

from __future__ import annotations

import re
from pathlib import Path

from lifecircle.coverage.presets import presets_reference_markdown

DOCS = Path(__file__).resolve().parents[1] / "docs" / "targets.md"
MARKERS = re.compile(r"(<!-- preset-rows:start -->\n).*?(<!-- preset-rows:end -->)", re.S)


def main() -> None:
    """Write the generated tables between the markers."""
    text = DOCS.read_text(encoding="utf-8")
    if not MARKERS.search(text):
        raise SystemExit(f"{DOCS}: the <!-- preset-rows:start/end --> markers are missing")
    table = presets_reference_markdown()
    DOCS.write_text(MARKERS.sub(lambda m: m.group(1) + table + m.group(2), text), encoding="utf-8")


if __name__ == "__main__":
    main()
