"""A synthetic province for the batch demo, tests and benchmark: N fictional counties of different
sizes and seeds (``tools.county``), and a province plan listing them.

Run ``python -m tools.province --out DIR [--counties 6] [--scale 0.03]``, then
``lifecircle batch DIR/province.toml``. Everything is invented.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from tools.county import generate_county

NUMERALS = "一二三四五六七八九十"


def county_name(k: int) -> str:
    """``示范一县``, ``示范二县``, … (invented names)."""
    tens, ones = divmod(k + 1, 10)
    numeral = (
        (NUMERALS[tens - 1] if tens > 1 else "")
        + ("十" if tens else "")
        + (NUMERALS[ones - 1] if ones else "")
    )
    return f"示范{numeral}县"


def generate_province(
    out_dir: str | Path, *, counties: int = 6, scale: float = 0.03, seed: int = 2026
) -> dict[str, dict[str, float]]:
    """Write ``counties`` county plan folders and ``province.toml`` below ``out_dir``.

    County ``k`` has seed ``seed + k`` and an area of ``scale`` times 0.75, 1.0 or 1.25 in turn,
    so the counties differ in layout and size. Returns each county's figures by name.
    """
    out = Path(out_dir)
    figures = {}
    entries = []
    for k in range(counties):
        name = county_name(k)
        folder = out / f"county-{k + 1:02d}"
        size = scale * (0.75 + 0.25 * (k % 3))
        figures[name] = generate_county(folder, seed=seed + k, scale=size)
        plan = folder / "plan.toml"
        text = re.sub(r'(?m)^name = ".*"$', f'name = "{name}"', plan.read_text("utf-8"), count=1)
        plan.write_text(text, encoding="utf-8")
        entries.append(f'[[counties]]\nplan = "{folder.name}/plan.toml"\n')
    (out / "province.toml").write_text(
        "# A fictional province of generated counties (tools.province); all data invented.\n\n"
        '[province]\nname = "示范省"\n\n' + "\n".join(entries),
        encoding="utf-8",
    )
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--counties", type=int, default=6)
    parser.add_argument("--scale", type=float, default=0.03)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    figures = generate_province(args.out, counties=args.counties, scale=args.scale, seed=args.seed)
    print(json.dumps(figures, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
