"""The map colours stay apart for colour-blind readers.

Deuteranopia and protanopia are simulated with colorspacious ("sRGB1+CVD", Machado et al. 2009,
severity 100) and distances measured in CAM02-UCS (colorspacious' ``deltaE``: about 1 is a just
noticeable difference; 20 or more reads as a different colour at a glance).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from colorspacious import cspace_convert, deltaE

from lifecircle.maps import palette

CVD = ("deuteranomaly", "protanomaly")
#: Met vs not met as drawn (blended over a white basemap at the fill opacity), under each CVD.
MIN_STATUS_DE = 30.0
#: Any two category colours under each CVD (pins also differ by glyph).
MIN_CATEGORY_DE = 12.0


def rgb(color: str) -> np.ndarray:
    return np.array([int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)])


def over_white(color: str, opacity: float) -> np.ndarray:
    return 1.0 - opacity * (1.0 - rgb(color))


def seen(rgb1: np.ndarray, cvd: str | None) -> np.ndarray:
    if cvd is None:
        return rgb1
    space = {"name": "sRGB1+CVD", "cvd_type": cvd, "severity": 100}
    return np.clip(cspace_convert(rgb1, space, "sRGB1"), 0, 1)


def distance(a: np.ndarray, b: np.ndarray, cvd: str | None) -> float:
    return float(deltaE(seen(a, cvd), seen(b, cvd), input_space="sRGB1"))


@pytest.mark.parametrize("cvd", [None, *CVD])
def test_met_and_not_met_stay_far_apart(cvd):
    opacity = palette.STATUS_FILL_OPACITY
    met, not_met, na = (
        over_white(palette.STATUS_COLORS[k], opacity) for k in ("met", "not_met", "na")
    )
    assert distance(met, not_met, cvd) >= MIN_STATUS_DE
    # 不适用 (grey) is told from both too, less strongly
    assert distance(met, na, cvd) >= 15 and distance(not_met, na, cvd) >= 15


@pytest.mark.parametrize("cvd", [None, *CVD])
def test_every_two_category_colours_differ(cvd):
    worst = min(
        distance(rgb(a), rgb(b), cvd) for a, b in itertools.combinations(palette.OKABE_ITO, 2)
    )
    assert worst >= MIN_CATEGORY_DE


@pytest.mark.parametrize("cvd", CVD)
def test_the_old_palette_would_fail(cvd):
    # the colours before (green #1a9850 / red #d73027; elder care and meal points both orange):
    # the test above would catch them
    assert distance(over_white("#1a9850", 0.45), over_white("#d73027", 0.45), cvd) < MIN_STATUS_DE
    assert distance(rgb("#d94801"), rgb("#e6550d"), cvd) < MIN_CATEGORY_DE


def test_uncovered_and_sites_stand_out_on_both_statuses():
    for cvd in CVD:
        for status in ("met", "not_met"):
            fill = over_white(palette.STATUS_COLORS[status], palette.STATUS_FILL_OPACITY)
            assert distance(rgb(palette.UNCOVERED_COLOR), fill, cvd) >= 30
            assert distance(rgb(palette.SITE_COLOR), fill, cvd) >= 15


def test_categories_take_the_palette_in_order_and_repeat():
    keys = [f"c{i}" for i in range(10)]
    colors = palette.category_colors(keys)
    # unknown keys: first the colours no built-in category prefers, then the others
    assert sorted(list(colors.values())[:8]) == sorted(palette.OKABE_ITO)
    assert list(colors.values())[:2] == ["#000000", "#009E73"]
    # built-in categories keep their colour whatever else the run holds
    run = palette.category_colors(
        [
            "children_home",
            "columbarium",
            "community_centre",
            "elder_care_centre",
            "meal_point",
            "social_work_station",
        ]
    )
    assert run["elder_care_centre"] == "#009E73" and run["meal_point"] == "#CC79A7"
    assert len(set(run.values())) == 6
    # the first categories never take the status pair
    first = list(colors.values())[:4]
    assert palette.STATUS_COLORS["met"] not in first
    assert palette.STATUS_COLORS["not_met"] not in first
