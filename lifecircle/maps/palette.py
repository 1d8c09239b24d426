"""The colours of every map (interactive and printed): colour-blind safe, one home.

Categories take the Okabe–Ito palette (Okabe & Ito 2008, "Color Universal Design"), in the order
the run lists its categories; statuses take a blue/orange pair that stays far apart under
deuteranopia and protanopia (tests/test_palette.py simulates both with colorspacious and checks
the CAM02-UCS distance). Colour is never the only cue: pins carry a glyph per category, township
labels spell the status (达标 / 未达标) and not-met townships are hatched.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Okabe–Ito, in the order categories take them: the status pair (blue, orange) last, so the
#: first categories never look like a township's status.
OKABE_ITO = ("#009E73", "#CC79A7", "#56B4E9", "#F0E442", "#D55E00", "#000000", "#E69F00", "#0072B2")

#: Township status fills by status key.
STATUS_COLORS = {
    "met": "#0072B2",  # blue
    "not_met": "#E69F00",  # orange
    "na": "#BBBBBB",  # 不适用: grey
    "no_data": "#F5F5F5",  # not assessed for this township
}
#: The stripes over the not-met fill (hatched, so colour is not the only cue).
NOT_MET_HATCH = "#8A4B00"
#: The order statuses are indexed in map payloads (met, not met, n.a., no data).
STATUS_ORDER = ("met", "not_met", "na", "no_data")
#: Opacity of the township fills (the tests measure the colours blended over white at this).
STATUS_FILL_OPACITY = 0.55

#: Proposed sites: magenta stars with a black outline (Paul Tol's vibrant magenta: yellow would
#: melt into the orange not-met fill under deuteranopia, ΔE 9).
SITE_COLOR = "#EE3377"
#: Uncovered people aged 60+: dark circles (distinct from both status fills and every pin).
UNCOVERED_COLOR = "#222222"


#: The colour the main built-in categories take in every run (when no earlier key took it), so
#: elder care is green on every map a planner sees.
PREFERRED = {
    "elder_care_centre": "#009E73",
    "meal_point": "#CC79A7",
    "social_work_station": "#56B4E9",
    "community_centre": "#F0E442",
    "children_home": "#D55E00",
}


def category_colors(keys: Iterable[str]) -> dict[str, str]:
    """Okabe–Ito colours for ``keys``: a built-in category's :data:`PREFERRED` colour, the
    others the free colours in :data:`OKABE_ITO` order (repeating after eight; glyphs differ).

    >>> category_colors(["children_home", "columbarium", "elder_care_centre"])
    {'children_home': '#D55E00', 'columbarium': '#000000', 'elder_care_centre': '#009E73'}
    """
    keys = list(keys)
    out: dict[str, str] = {}
    for key in keys:
        color = PREFERRED.get(key)
        if color is not None and color not in out.values():
            out[key] = color
    # other keys take the colours no built-in category prefers first, the status pair last
    free = sorted(
        (c for c in OKABE_ITO if c not in out.values()),
        key=lambda c: (
            c in (STATUS_COLORS["met"], STATUS_COLORS["not_met"]),
            c in PREFERRED.values(),
        ),
    )
    for key in keys:
        if key not in out:
            out[key] = free.pop(0) if free else OKABE_ITO[len(out) % len(OKABE_ITO)]
    return {key: out[key] for key in keys}
