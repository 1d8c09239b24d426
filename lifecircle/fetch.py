"""Download a district's inputs from OpenStreetMap and write a starter plan (``lifecircle fetch``).

:func:`fetch_district` writes into one folder:

* ``network.graphml``: the walk network (osmnx ``network_type="walk"``, cached, see
  :mod:`lifecircle.geo.osm`);
* ``townships.geojson``: ``boundary=administrative`` + ``admin_level=8`` polygons (街道/镇/乡 in
  China) whose inside point lies in the district, with ``name``, ``code`` (when OSM has one),
  ``kind`` (``street``/``town``) and ``kind_zh`` (街道/镇/乡) from the name's suffix;
* ``<category>.geojson``: OSM features of each registered category (WGS-84 points; polygons become
  inside points), with ``name``, ``address``, ``osm_id``;
* ``plan.toml``: a starter plan naming all of the above (population left out, with a comment).

Everything needs internet once; the downloads go through osmnx's HTTP cache.
OSM data are © OpenStreetMap contributors, ODbL 1.0.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from lifecircle.errors import NetworkError
from lifecircle.geo.osm import NetworkSpec, default_cache_dir, load_walk_graph
from lifecircle.layers.townships import township_kind

logger = logging.getLogger(__name__)

TOWNSHIP_TAGS = {"boundary": "administrative", "admin_level": "8"}
# How far beyond the district the fetched network reaches: a 20-minute walk at 1.2 m/s, the
# longest reach of the usual plans, so residents near the boundary may walk across it.
FETCH_BUFFER_M = 1500.0
_ADDRESS_PARTS = (
    "addr:province",
    "addr:city",
    "addr:district",
    "addr:subdistrict",
    "addr:street",
    "addr:housenumber",
)
_CODE_TAGS = ("ref:NBS", "ref:nbs", "nbs:code", "ref:CN", "ref")

TagSets = Mapping[str, Any] | Sequence[Mapping[str, Any]]


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series([""] * len(frame), index=frame.index, dtype=object)
    return frame[column].astype("string").fillna("").str.strip().astype(object)


def _first_text(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """Per row, the first non-empty value among ``columns``."""
    out = pd.Series([""] * len(frame), index=frame.index, dtype=object)
    for column in columns:
        out = out.where(out != "", _text(frame, column))
    return out


def _osm_ids(frame: pd.DataFrame) -> list[str]:
    index = frame.index
    if isinstance(index, pd.MultiIndex) and index.nlevels >= 2:
        return [
            f"{a}/{b}"
            for a, b in zip(index.get_level_values(0), index.get_level_values(1), strict=True)
        ]
    return [str(i) for i in index]


def _configure_osmnx_cache(cache_dir: Path) -> None:
    import osmnx as ox

    ox.settings.use_cache = True
    ox.settings.cache_folder = str(cache_dir / "osmnx_http")


def _features(place: str, tags: dict[str, Any]) -> gpd.GeoDataFrame:
    import osmnx as ox

    try:
        return ox.features_from_place(place, tags)
    except ox._errors.InsufficientResponseError:
        return gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
    except Exception as exc:  # geocoder and HTTP errors from osmnx
        raise NetworkError(
            f"could not download OSM features {tags} for {place!r} ({type(exc).__name__}: {exc});"
            " check the internet connection and the place name (try it on "
            "nominatim.openstreetmap.org)"
        ) from exc


# ---------------------------------------------------------------------------------------------
# townships


def _district_outline(place: str) -> Any:
    import osmnx as ox

    try:
        return ox.geocode_to_gdf(place).to_crs("EPSG:4326").geometry.union_all()
    except Exception as exc:  # geocoder errors
        raise NetworkError(
            f"could not find {place!r} with the OSM geocoder ({type(exc).__name__}: {exc}); give "
            "the place as '区, 市, 省' (e.g. '海陵区, 泰州市, 江苏省')"
        ) from exc


def fetch_townships(place: str, outline: Any) -> gpd.GeoDataFrame:
    """admin_level=8 polygons inside ``outline`` as ``name, code, kind, kind_zh, osm_id``."""
    raw = _features(place, dict(TOWNSHIP_TAGS))
    if len(raw):
        polygon = raw.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
        level = _text(raw, "admin_level").eq("8").to_numpy() if "admin_level" in raw else polygon
        raw = raw[polygon & level]
    if len(raw):
        # neighbours sharing the district's border come back too: keep those inside it
        inside = raw.representative_point().within(outline.buffer(1e-6)).to_numpy()
        raw = raw[inside]
    if len(raw) == 0:
        return gpd.GeoDataFrame(
            {"name": [], "code": [], "kind": [], "kind_zh": [], "osm_id": []},
            geometry=[],
            crs="EPSG:4326",
        )
    names = _first_text(raw, ["name:zh", "name:zh-Hans", "name"])
    codes = _first_text(raw, list(_CODE_TAGS)).map(
        lambda c: c[:9] if re.fullmatch(r"\d{9}(\d{3})?", c) else ""
    )
    kinds = [township_kind(n, c) or ("", "") for n, c in zip(names, codes, strict=True)]
    frame = gpd.GeoDataFrame(
        {
            "name": names.to_numpy(),
            "code": codes.to_numpy(),
            "kind": [k for k, _ in kinds],
            "kind_zh": [z for _, z in kinds],
            "osm_id": _osm_ids(raw),
        },
        geometry=raw.geometry.to_numpy(),
        crs=raw.crs or "EPSG:4326",
    ).to_crs("EPSG:4326")
    return frame.sort_values(["kind", "name"]).reset_index(drop=True)


def guess_county(
    townships: gpd.GeoDataFrame, nbs: pd.DataFrame | None = None
) -> tuple[str, gpd.GeoDataFrame]:
    """The 6-digit county code most townships point to, and the townships with codes filled.

    Each township votes with its code's first six digits, or (without a code) for every county
    of the NBS table holding a township of exactly that name. The winner needs the votes of at
    least half of the townships; codes are then filled by exact name within that county.
    Returns ``("", townships)`` when no county wins.
    """
    if nbs is None:
        from lifecircle.layers.townships import load_nbs_codes

        try:
            nbs = load_nbs_codes()
        except OSError:  # the table ships with the package; a broken install should not stop us
            logger.warning("NBS code table not found: township codes not matched")
            return "", townships
    if len(townships) == 0:
        return "", townships
    by_name: dict[str, list[tuple[str, str]]] = {}
    for code, name, county in zip(nbs["code"], nbs["name"], nbs["areaCode"], strict=True):
        by_name.setdefault(str(name).strip(), []).append((str(code), str(county)))
    votes: dict[str, int] = {}
    for code, name in zip(townships["code"], townships["name"], strict=True):
        counties = {code[:6]} if code else {c for _, c in by_name.get(name, [])}
        for county in counties:
            votes[county] = votes.get(county, 0) + 1
    if not votes:
        return "", townships
    county, count = max(votes.items(), key=lambda kv: kv[1])
    if count * 2 < len(townships):
        return "", townships
    filled = townships.copy()
    filled["code"] = [
        code or next((c for c, k in by_name.get(name, []) if k == county), "")
        for code, name in zip(townships["code"], townships["name"], strict=True)
    ]
    logger.info(
        "townships point to county %s (%d of %d); %d code(s) filled from names",
        county,
        count,
        len(townships),
        int(((townships["code"] == "") & (filled["code"] != "")).sum()),
    )
    return county, filled


# ---------------------------------------------------------------------------------------------
# facilities


def _as_tag_sets(tags: TagSets) -> tuple[list[dict[str, Any]], bool]:
    """A category's tags as a list of sets and whether all tags of a set must match.

    A list of dicts (the category registry's form) means: a feature matching every tag of one set.
    A single dict is osmnx's form: a feature matching any one of its tags.
    """
    if isinstance(tags, Mapping):
        return [{k: v} for k, v in tags.items()], False
    return [dict(t) for t in tags], True


def _query_tags(tags_by_layer: Mapping[str, TagSets]) -> dict[str, Any]:
    """One osmnx tag query fetching a superset of every category's features."""
    query: dict[str, set[str] | bool] = {}
    for tags in tags_by_layer.values():
        sets, _ = _as_tag_sets(tags)
        for tag_set in sets:
            if not tag_set:
                continue
            # the first tag of each set is enough to fetch it; the rest are checked locally
            key, value = next(iter(tag_set.items()))
            values = value if isinstance(value, list | tuple | set) else [value]
            if query.get(key) is True or True in values:
                query[key] = True
            else:
                query.setdefault(key, set()).update(str(v) for v in values)
    return {k: (v if v is True else sorted(v)) for k, v in query.items()}


def _matches(frame: pd.DataFrame, key: str, value: Any) -> np.ndarray:
    if key not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    values = _text(frame, key)
    if value is True:
        return (values != "").to_numpy()
    wanted = value if isinstance(value, list | tuple | set) else [value]
    return values.isin([str(w) for w in wanted]).to_numpy()


def select_category(features: gpd.GeoDataFrame, tags: TagSets) -> np.ndarray:
    """Boolean mask of the features belonging to a category with these OSM tags."""
    sets, match_all = _as_tag_sets(tags)
    mask = np.zeros(len(features), dtype=bool)
    for tag_set in sets:
        if not tag_set:
            continue
        hits = [_matches(features, k, v) for k, v in tag_set.items()]
        mask |= np.logical_and.reduce(hits) if match_all else np.logical_or.reduce(hits)
    return mask


def _facility_frame(features: gpd.GeoDataFrame, category: str) -> gpd.GeoDataFrame:
    names = _first_text(features, ["name:zh", "name:zh-Hans", "name"])
    ids = _osm_ids(features)
    names = [n or f"未命名（OSM {i}）" for n, i in zip(names, ids, strict=True)]
    full = _text(features, "addr:full")
    parts = pd.concat([_text(features, c) for c in _ADDRESS_PARTS], axis=1)
    joined = parts.apply(lambda row: "".join(row), axis=1) if len(parts) else full
    address = full.where(full != "", joined)
    points = features.to_crs("EPSG:4326").geometry.representative_point()
    return gpd.GeoDataFrame(
        {"name": names, "address": address.to_numpy(), "category": category, "osm_id": ids},
        geometry=points.to_numpy(),
        crs="EPSG:4326",
    )


# ---------------------------------------------------------------------------------------------
# starter plan


def _toml_str(value: str) -> str:
    # a JSON string without ASCII escaping is a valid TOML basic string
    return json.dumps(value, ensure_ascii=False)


def _starter_plan(
    place: str,
    townships: gpd.GeoDataFrame,
    layers: dict[str, str],
    empty: list[str],
    fallback_outline: bool,
    county_code: str,
) -> str:
    study = place.split(",")[0].split("，")[0].strip() or place
    today = dt.date.today()
    lines = [
        f"# Starter plan written by `lifecircle fetch` for {place} on {today.isoformat()}.",
        "# Data: OpenStreetMap, © OpenStreetMap contributors, ODbL 1.0. OSM facility and boundary",
        "# data are often incomplete: check them against the civil-affairs registers before use.",
        "# See docs/plan-file.md for every key.",
        "",
    ]
    if not layers:
        lines += [
            "# OSM had no facility of the registered categories here: add [[layers]].",
            "layers = []",
            "",
        ]
    lines += [
        "[study]",
        f"name = {_toml_str(study)}",
        f"county_code = {_toml_str(county_code)}   # guessed from the townships' names/codes: check"
        if county_code
        else '# county_code = ""   # the 6-digit county code: '
        "township names are matched to NBS codes",
        f"year = {today.year}",
        'lang = "zh"',
        "",
        "[inputs.townships]",
    ]
    if fallback_outline:
        lines.append(
            "# OSM has no admin_level=8 (街道/镇/乡) boundaries here: this file holds the "
            "whole district; replace it with real township boundaries"
        )
    lines += ['path = "townships.geojson"', 'name_field = "name"']
    if len(townships) and (townships["code"] != "").all():
        lines.append('code_field = "code"')
    else:
        lines.append('# code_field = "code"   # OSM has no NBS codes: matched from the names')
    lines += [
        'kind_field = "kind_zh"',
        "",
        "[inputs.network]",
        'path = "network.graphml"',
        "",
        "# [inputs.population]  OpenStreetMap has no population: add a GeoTIFF of head counts",
        "# (e.g. WorldPop, any CRS) or a township table; without it coverage counts network nodes.",
        '# raster = "population.tif"',
        "# total_band = 1",
        "# seniors_band = 2",
        "",
    ]
    for category, file_name in layers.items():
        lines += [
            "[[layers]]",
            f"category = {_toml_str(category)}",
            f"path = {_toml_str(file_name)}",
            'crs = "wgs84"',
            "",
        ]
    if empty:
        lines += [f"# no OSM features found for: {', '.join(empty)}", ""]
    lines += [
        "[walk]",
        "speed_mps = 1.0",
        "thresholds_min = [5, 10, 15]",
        "max_snap_m = 500",
        "",
    ]
    return "\n".join(lines)


def _file_name(category: str) -> str:
    safe = re.sub(r"[^\w\-]+", "_", category).strip("_") or "layer"
    return f"{safe}.geojson"


def fetch_district(
    place: str,
    out_dir: Path | str,
    *,
    osm_tags_by_layer: Mapping[str, TagSets],
    cache_dir: Path | str | None = None,
) -> Path:
    """Download a district's walk network, townships and facilities; write a starter plan.

    Parameters
    ----------
    place
        Place name for OSM's geocoder, e.g. ``"海陵区, 泰州市, 江苏省"``.
    out_dir
        Folder to write into (created if needed; existing files of the same names are replaced).
    osm_tags_by_layer
        OSM tags per category key: a list of tag sets (a feature matching every tag of one set
        belongs to the category, as ``CategoryRegistry.osm_tags()`` gives), or one osmnx tags dict
        (a feature matching any of its tags).
    cache_dir
        Cache for the network download and osmnx's HTTP responses (default
        :func:`lifecircle.geo.osm.default_cache_dir`).

    Returns
    -------
    Path
        The starter plan, ``out_dir / "plan.toml"``.

    Raises
    ------
    NetworkError
        When the place cannot be found or a download fails (the message says what to check).
    """
    import osmnx as ox

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    _configure_osmnx_cache(cache)

    graph = load_walk_graph(NetworkSpec(place=place, cache_dir=cache, buffer_m=FETCH_BUFFER_M))
    ox.save_graphml(graph, out / "network.graphml")

    outline = _district_outline(place)
    townships = fetch_townships(place, outline)
    county_code, townships = guess_county(townships)
    fallback = len(townships) == 0
    if fallback:
        logger.warning(
            "%s: OSM has no admin_level=8 boundaries; writing the district outline as "
            "the only township — replace townships.geojson",
            place,
        )
        townships = gpd.GeoDataFrame(
            {
                "name": [place.split(",")[0].strip()],
                "code": [""],
                "kind": [""],
                "kind_zh": [""],
                "osm_id": [""],
            },
            geometry=[outline],
            crs="EPSG:4326",
        )
    townships.to_file(out / "townships.geojson", driver="GeoJSON")
    logger.info("%s: %d township(s) written", place, len(townships))

    layers: dict[str, str] = {}
    empty: list[str] = []
    query = _query_tags(osm_tags_by_layer)
    features = _features(place, query) if query else gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
    if len(features):
        features = features[features.geometry.notna() & ~features.geometry.is_empty]
    for category, tags in osm_tags_by_layer.items():
        mask = select_category(features, tags) if len(features) else np.zeros(0, dtype=bool)
        if not mask.any():
            empty.append(category)
            continue
        frame = _facility_frame(features[mask], category)
        file_name = _file_name(category)
        frame.to_file(out / file_name, driver="GeoJSON")
        layers[category] = file_name
        logger.info("%s: %d OSM feature(s) written to %s", category, len(frame), file_name)

    plan_path = out / "plan.toml"
    plan_path.write_text(
        _starter_plan(place, townships, layers, empty, fallback, county_code), encoding="utf-8"
    )
    logger.info("starter plan written to %s", plan_path)
    return plan_path
