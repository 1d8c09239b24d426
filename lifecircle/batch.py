"""Many counties in one command: each county plan is one dask.distributed task.

A province plan (TOML) lists county plans, or a folder of them, with settings and targets shared
by all of them::

    [province]
    name = "示范省"

    [shared.walk]                 # any plan table: used where a county plan does not set it
    speed_mps = 1.0

    [[shared.targets]]            # added to every county's own targets
    preset = "gb50180"

    [[counties]]
    plan = "counties/a/plan.toml"

    [[counties]]
    folder = "more-counties"      # every <folder>/*/plan.toml

Workers read each county's inputs by path from shared storage; only small summaries (gap rows,
a simplified outline) come back through the scheduler. A county that fails is recorded with its
error while the others finish; a rerun skips counties whose inputs and settings are unchanged
(their content hashes are kept in each county's run.json).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import resource
import time
import tomllib
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from lifecircle import __version__
from lifecircle.errors import LifecircleError, PlanError
from lifecircle.hashing import file_sha256
from lifecircle.output import folder_name
from lifecircle.plan import parse_plan

logger = logging.getLogger(__name__)

_PROVINCE_KEYS = ("province", "shared", "counties", "batch")
_COUNTY_KEYS = ("plan", "folder", "name")
STATUS_DONE, STATUS_SKIPPED, STATUS_FAILED = "done", "skipped", "failed"


@dataclass(frozen=True)
class CountyJob:
    """One county to run: its plan document with the shared settings merged in."""

    name: str
    plan_path: Path
    doc: dict[str, Any]
    out_dir: Path
    key: str
    siting: bool = True
    county_code: str = ""
    error: str = ""


@dataclass(frozen=True)
class ProvincePlan:
    """A validated province plan: county plan paths and the settings they share."""

    path: Path
    name: str
    county_plans: tuple[Path, ...]
    shared: dict[str, Any] = field(default_factory=dict)


@dataclass
class CountyOutcome:
    """What one county task reports back: only a status line, never the county's tables."""

    name: str
    status: str
    out_dir: str
    key: str
    county_code: str = ""
    seconds: float = 0.0
    peak_mb: float = 0.0
    error: str = ""


def load_province(path: str | Path) -> ProvincePlan:
    """Read a province plan, or a folder holding county plans (every ``*/plan.toml``).

    Raises
    ------
    PlanError
        When the file is not valid TOML, names an unknown key, or lists a plan that does not exist.
    """
    path = Path(path).resolve()
    if path.is_dir():
        plans = tuple(sorted(path.glob("*/plan.toml")))
        if not plans:
            raise PlanError(f"{path}: no */plan.toml below this folder — give a province plan file")
        return ProvincePlan(path=path / "province.toml", name=path.name, county_plans=plans)
    if not path.is_file():
        raise PlanError(f"province plan {path} does not exist")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"{path.name} is not valid TOML: {exc}") from None
    unknown = sorted(set(doc) - set(_PROVINCE_KEYS))
    if unknown:
        raise PlanError(f"{path.name}: unknown section(s) {unknown}; allowed: {_PROVINCE_KEYS}")
    name = doc.get("province", {}).get("name", path.stem)
    if not isinstance(name, str) or not name.strip():
        raise PlanError(f"{path.name}: [province].name must be a non-empty string")
    plans: list[Path] = []
    for i, entry in enumerate(doc.get("counties", [])):
        where = f"{path.name}: [[counties]] #{i + 1}"
        bad = sorted(set(entry) - set(_COUNTY_KEYS))
        if bad or ("plan" in entry) == ("folder" in entry):
            raise PlanError(f'{where} needs exactly one of plan = "…/plan.toml" or folder = "…"')
        if "plan" in entry:
            plan = (path.parent / entry["plan"]).resolve()
            if not plan.is_file():
                raise PlanError(
                    f"{where}: plan {plan} does not exist — check the path "
                    "(relative paths are read from the province plan's folder)"
                )
            plans.append(plan)
        else:
            folder = (path.parent / entry["folder"]).resolve()
            found = sorted(folder.glob("*/plan.toml"))
            if not found:
                raise PlanError(f"{where}: folder {folder} holds no */plan.toml")
            plans.extend(found)
    if not plans:
        raise PlanError(f"{path.name}: list the county plans under [[counties]]")
    if len(set(plans)) != len(plans):
        raise PlanError(f"{path.name}: a county plan is listed twice")
    return ProvincePlan(
        path=path, name=name.strip(), county_plans=tuple(plans), shared=doc.get("shared", {})
    )


def merge_shared(county: dict[str, Any], shared: dict[str, Any]) -> dict[str, Any]:
    """The county plan document with shared settings filled in where the county sets none.

    Tables merge key by key (the county's value wins); ``targets`` are the shared targets followed
    by the county's own; any other list is the county's when it has one.
    """
    merged = copy.deepcopy(county)
    for key, value in shared.items():
        if key == "targets":
            merged["targets"] = [*copy.deepcopy(value), *merged.get("targets", [])]
        elif key not in merged:
            merged[key] = copy.deepcopy(value)
        elif isinstance(value, dict) and isinstance(merged[key], dict):
            merged[key] = merge_shared(merged[key], value)
    return merged


def county_key(doc: dict[str, Any], input_paths: Iterable[Path], *, siting: bool) -> str:
    """Content hash of everything a county's result depends on: settings, inputs, version."""
    digest = hashlib.sha256()
    digest.update(json.dumps(doc, sort_keys=True, ensure_ascii=False, default=str).encode())
    digest.update(f"{__version__}|siting={siting}".encode())
    for path in sorted(input_paths):
        digest.update(f"{path.name}:{file_sha256(path)}".encode())
    return digest.hexdigest()


def plan_jobs(province: ProvincePlan, out_dir: Path, *, siting: bool = True) -> list[CountyJob]:
    """One job per county: merged plan document, output folder and content hash.

    A county plan that cannot be read becomes a job carrying its error, so it fails alone.
    """
    jobs = []
    names: set[str] = set()
    for plan_path in province.county_plans:
        error = ""
        try:
            county_doc = tomllib.loads(plan_path.read_text(encoding="utf-8-sig"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            county_doc, error = {}, f"{plan_path.name} is not a valid TOML plan: {exc}"
        doc = merge_shared(county_doc, province.shared)
        study = doc.get("study", {})
        name = str(study.get("name") or plan_path.parent.name)
        if name in names:
            name = f"{name}-{plan_path.parent.name}"
        names.add(name)
        inputs: list[Path] = []
        if not error:
            try:
                inputs = parse_plan(doc, plan_path).input_paths()
            except LifecircleError as exc:
                error = str(exc)
        key = county_key(doc, [plan_path, *inputs], siting=siting)
        jobs.append(
            CountyJob(
                name=name,
                plan_path=plan_path,
                doc=doc,
                key=key,
                siting=siting,
                out_dir=out_dir / "counties" / folder_name(name),
                county_code=str(study.get("county_code", "")),
                error=error,
            )
        )
    return jobs


def previous_key(job: CountyJob) -> str | None:
    """The content hash recorded in the county's run.json by its last finished run, if any."""
    try:
        info = json.loads((job.out_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info.get("batch", {}).get("key")


def _peak_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


GAPS_TABLE = "gaps.parquet"
SUMMARY_TABLE = "gap_summary.parquet"


def _outcome(job: CountyJob, status: str, *, error: str = "") -> CountyOutcome:
    return CountyOutcome(
        name=job.name,
        status=status,
        out_dir=str(job.out_dir),
        key=job.key,
        county_code=job.county_code,
        error=error,
    )


def run_county(job: CountyJob) -> CountyOutcome:
    """Run one county (in a worker) and return its status; never raises.

    Besides the county's usual outputs, the gap rows are kept as Parquet in its folder for the
    province roll-up, and run.json records the content hash last, so a county whose run.json
    carries the hash is complete.
    """
    from lifecircle.api import run
    from lifecircle.output import write_json
    from lifecircle.pipeline import RunOptions

    started = time.perf_counter()
    outcome = _outcome(job, STATUS_FAILED, error=job.error)
    if job.error:
        return outcome
    try:
        plan = parse_plan(job.doc, job.plan_path)
        result = run(plan, job.out_dir, options=RunOptions(siting=job.siting))
        out_dir = result.out_dir
        _write_parquet(result.gaps, out_dir / GAPS_TABLE)
        _write_parquet(result.gap_summary, out_dir / SUMMARY_TABLE)
        write_json(
            out_dir / "run.json",
            {**result.run_info, "batch": {"key": job.key, "plan": str(job.plan_path)}},
        )
        outcome.status = STATUS_DONE
    except LifecircleError as exc:
        outcome.error = str(exc)
    except MemoryError:
        outcome.error = (
            "out of memory: give each worker more memory (--memory-limit) or run fewer workers"
        )
    except Exception as exc:  # a bug in one county must not stop the others: record it
        outcome.error = f"{type(exc).__name__}: {exc}"
        logger.error("%s failed:\n%s", job.name, traceback.format_exc())
    outcome.seconds = round(time.perf_counter() - started, 3)
    outcome.peak_mb = round(_peak_mb(), 1)
    return outcome


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write a gap table atomically (mixed-type columns kept as text)."""
    from lifecircle.output import write_bytes_atomic

    table = frame.copy()
    for column in table.columns:
        if table[column].dtype == object:
            table[column] = table[column].map(lambda v: None if v is None else str(v))
    write_bytes_atomic(path, table.to_parquet(index=False))


ProgressFn = Callable[[CountyOutcome, int, int], None]


def _no_progress(outcome: CountyOutcome, done: int, total: int) -> None:
    """Default progress sink: report nothing."""


@dataclass
class BatchResult:
    """Every county's outcome in the province plan's order, and where the roll-up went."""

    province: str
    out_dir: Path
    outcomes: list[CountyOutcome]
    engine: str
    seconds: float
    dashboard: str | None = None

    @property
    def failed(self) -> list[CountyOutcome]:
        """Counties whose run failed (bad input, out of memory, a lost worker)."""
        return [o for o in self.outcomes if o.status == STATUS_FAILED]


def _last_statuses(out_dir: Path) -> dict[str, dict[str, Any]]:
    """The outcome of each county in the last batch written to ``out_dir``, by name."""
    try:
        record = json.loads((out_dir / BATCH_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {c["name"]: c for c in record.get("counties", [])}


def select_jobs(
    jobs: list[CountyJob], last: dict[str, dict[str, Any]], *, retry_failed: bool = False
) -> tuple[list[CountyJob], list[CountyOutcome]]:
    """Split jobs into those to run and those skipped.

    A county is skipped when its run.json carries its current content hash: inputs and settings
    are unchanged since it finished. With ``retry_failed`` only counties whose last run failed
    (or that never ran) are run, even if the inputs of finished ones changed.
    """
    to_run, skipped = [], []
    for job in jobs:
        before = last.get(job.name, {})
        failed_last = before.get("status") == STATUS_FAILED
        finished = previous_key(job) == job.key and not failed_last
        keep_finished = retry_failed and before and not failed_last
        if finished or keep_finished:
            skipped.append(_outcome(job, STATUS_SKIPPED))
        else:
            to_run.append(job)
    return to_run, skipped


def _run_serial(jobs: list[CountyJob], progress: ProgressFn) -> list[CountyOutcome]:
    outcomes = []
    for i, job in enumerate(jobs):
        outcomes.append(run_county(job))
        progress(outcomes[-1], i + 1, len(jobs))
    return outcomes


def _run_dask(jobs: list[CountyJob], client: Any, progress: ProgressFn) -> list[CountyOutcome]:
    """Each county is one task; a county whose worker died is recorded as failed."""
    from distributed import as_completed

    futures = client.map(run_county, jobs, pure=False)
    job_of = {future.key: job for future, job in zip(futures, jobs, strict=True)}
    outcomes: dict[str, CountyOutcome] = {}
    for done, future in enumerate(as_completed(futures), start=1):
        job = job_of[future.key]
        try:
            outcome = future.result()
        except Exception as exc:  # KilledWorker and the like: this county is lost, not the batch
            outcome = _outcome(
                job,
                STATUS_FAILED,
                error=(
                    f"worker lost ({type(exc).__name__}): the county probably ran out of memory — "
                    "raise --memory-limit or run fewer workers"
                ),
            )
        outcomes[job.name] = outcome
        progress(outcome, done, len(jobs))
    return [outcomes[job.name] for job in jobs]


def start_client(
    workers: int | None = None, *, memory_limit: str = "auto", scheduler: str | None = None
) -> Any:
    """A dask.distributed client: on an existing scheduler, or on a new LocalCluster.

    The local cluster runs one single-threaded worker process per core by default, each with a
    memory limit. A county that kills its worker is not retried on the next one.
    """
    import dask
    from distributed import Client, LocalCluster

    dask.config.set({"distributed.scheduler.allowed-failures": 0})
    if scheduler:
        return Client(scheduler)
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        memory_limit=memory_limit,
        dashboard_address=":0",
    )
    return Client(cluster)


BATCH_RECORD = "batch.json"


def run_batch(
    province: ProvincePlan,
    out_dir: str | Path,
    *,
    client: Any = None,
    retry_failed: bool = False,
    siting: bool = True,
    lang: str = "zh",
    progress: ProgressFn = _no_progress,
) -> BatchResult:
    """Run every county of a province, then write the province outputs.

    Parameters
    ----------
    province
        From :func:`load_province`.
    out_dir
        The province output folder: ``counties/<name>/`` for each county, then the roll-up.
    client
        A ``distributed.Client`` (:func:`start_client`); ``None`` runs the counties one after
        another in this process.
    retry_failed
        Run only the counties whose last run failed.
    siting
        Propose sites in each county, as a single run does.
    lang
        Language of the province outputs (``zh`` or ``en``).
    progress
        Called after each county with its outcome, the number done and the number to run.
    """
    out_dir = Path(out_dir).resolve()
    started = time.perf_counter()
    jobs = plan_jobs(province, out_dir, siting=siting)
    to_run, skipped = select_jobs(jobs, _last_statuses(out_dir), retry_failed=retry_failed)
    if client is None:
        ran, engine = _run_serial(to_run, progress), "serial"
    else:
        import distributed

        ran = _run_dask(to_run, client, progress)
        engine = f"dask.distributed {distributed.__version__}"
    by_name = {o.name: o for o in [*ran, *skipped]}
    result = BatchResult(
        province=province.name,
        out_dir=out_dir,
        outcomes=[by_name[j.name] for j in jobs],
        engine=engine,
        seconds=round(time.perf_counter() - started, 3),
        dashboard=getattr(client, "dashboard_link", None),
    )
    write_province_outputs(result, lang=lang)
    return result


def county_tables(result: BatchResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Township × target and county × target rows of every finished county, with codes.

    Read from each county's folder on shared storage, not passed through the scheduler.
    """
    rows, summaries = [], []
    for outcome in result.outcomes:
        if outcome.status == STATUS_FAILED:
            continue
        folder = Path(outcome.out_dir)
        extra = {"county": outcome.name, "county_code": outcome.county_code}
        rows.append(pd.read_parquet(folder / GAPS_TABLE).assign(**extra))
        summaries.append(pd.read_parquet(folder / SUMMARY_TABLE).assign(**extra))
    return (
        pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(),
        pd.concat(summaries, ignore_index=True) if summaries else pd.DataFrame(),
    )


def county_overview(result: BatchResult, summary: pd.DataFrame) -> gpd.GeoDataFrame:
    """One row per county: status, counts of targets met / not met / n.a., share met, links
    (relative to the province folder) and the county's outline (the union of its townships)."""
    rows = []
    for outcome in result.outcomes:
        folder = Path(outcome.out_dir)
        mine = summary[summary["county"] == outcome.name] if len(summary) else summary
        counts = mine["status"].value_counts() if len(mine) else pd.Series(dtype=int)
        met, not_met = int(counts.get("met", 0)), int(counts.get("not_met", 0))
        outline = None
        if outcome.status != STATUS_FAILED:
            townships = gpd.read_file(
                folder / "results.gpkg", layer="townships", engine="pyogrio", columns=[]
            )
            outline = townships.to_crs("EPSG:4326").union_all().simplify(1e-4)
        relative = folder.relative_to(result.out_dir).as_posix()
        rows.append(
            {
                "name": outcome.name,
                "county_code": outcome.county_code,
                "status": outcome.status,
                "error": outcome.error,
                "seconds": outcome.seconds,
                "peak_mb": outcome.peak_mb,
                "met": met,
                "not_met": not_met,
                "na": int(counts.get("na", 0)),
                "share_met": met / (met + not_met) if met + not_met else float("nan"),
                "href": f"{relative}/overview.html",
                "briefing": f"{relative}/briefing.html",
                "geometry": outline,
            }
        )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")


def write_province_outputs(result: BatchResult, *, lang: str = "zh") -> None:
    """Write the roll-up beside the county folders, each file atomically.

    ``province_gaps.csv``/``.xlsx`` (county × target and township × target, with codes),
    ``province_overview.html`` (counties coloured by the share of targets met, linking to their
    overview maps), ``province_summary.html`` (for the briefing) and ``batch.json`` (each county's
    status, error and timing, read by the next run to skip or retry counties).
    """
    from lifecircle import report
    from lifecircle.i18n import label
    from lifecircle.maps.province import province_map_html, province_summary_html
    from lifecircle.output import write_bytes_atomic, write_json, write_text_atomic

    rows, summary = county_tables(result)
    counties = county_overview(result, summary)
    out = result.out_dir
    write_text_atomic(
        out / "province_gaps.csv",
        report.province_gaps_csv(rows, summary, lang=lang),
        encoding="utf-8-sig",
    )
    write_bytes_atomic(
        out / "province_gaps.xlsx", report.province_gaps_xlsx(rows, summary, lang=lang)
    )
    title = label("province_title", lang, province=result.province)
    write_text_atomic(
        out / "province_overview.html", province_map_html(counties, title=title, lang=lang)
    )
    write_text_atomic(
        out / "province_summary.html",
        province_summary_html(
            counties, title=title, engine=result.engine, seconds=result.seconds, lang=lang
        ),
    )
    write_json(
        out / BATCH_RECORD,
        {
            "province": result.province,
            "engine": result.engine,
            "seconds": result.seconds,
            "counties": [dataclasses.asdict(o) for o in result.outcomes],
        },
    )
