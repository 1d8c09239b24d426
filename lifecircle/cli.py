"""The ``lifecircle`` command: thin typer commands over the library, printed with rich.

The package's own errors are caught once here and shown as one line with exit code 1.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from lifecircle.coverage.targets import GapReport
from lifecircle.errors import LifecircleError
from lifecircle.i18n import LANGS, label, progress_text
from lifecircle.report import SUMMARY_HEADERS, summary_rows
from lifecircle.results import RunResult

app = typer.Typer(
    help="lifecircle: 生活圈 coverage of civil-affairs facilities: targets, gaps, sites, maps.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Outside a terminal (CI logs, pipes) rich would wrap tables at 80 columns; give them room.
console = Console(width=None if sys.stdout.isatty() else 120)

# Each shared option is defined once (as rasterio's rio does) and reused by the commands.
PlanArg = Annotated[Path, typer.Argument(help="Plan file (TOML).", exists=True, dir_okay=False)]
OutOpt = Annotated[
    Path | None,
    # rich reads [square brackets] as markup and would drop the words inside: escape them.
    typer.Option("--out", "-o", help=escape("Output folder [default: out/<study name>].")),
]
LangOpt = Annotated[str | None, typer.Option("--lang", help="Report language: zh (default) or en.")]
OfflineOpt = Annotated[
    bool,
    typer.Option(
        "--offline-map",
        help="Draw no public basemap tiles: maps make no network request (Leaflet is always "
        "inlined).",
    ),
]
BasemapOpt = Annotated[str | None, typer.Option("--basemap", help="osm, tianditu, amap or none.")]
TilesOpt = Annotated[
    str | None, typer.Option("--tiles-url", help="Local or intranet tile URL template.")
]
VerboseOpt = Annotated[
    int, typer.Option("--verbose", "-v", count=True, help="More log output (-vv for debug).")
]
SensitivityOpt = Annotated[
    bool,
    typer.Option(
        "--sensitivity",
        help="Re-evaluate service circles at 0.8/1.0/1.2 m/s under both road rule sets "
        "(or the plan's [sensitivity]); report which 达标 statuses are fragile.",
    ),
]

# Console words from lifecircle.i18n (``cli_<key>``; statuses are the shared labels).
_TEXT_KEYS = (
    "township",
    "code",
    "kind",
    "unmet_targets",
    "indicator",
    "value",
    "target",
    "status",
    "layer",
    "used",
    "rejected",
    "per_township",
    "area",
    "layers",
    "written",
    "warnings",
    "rejected_rows",
    "coverage",
    "minutes",
    "siting",
    "counties",
    "county",
    "state",
    "error",
    "seconds",
    "done",
    "skipped",
    "failed",
    "audit",
    "sensitivity",
    "interrupted",
    "timings",
    "peak_memory",
    "cache_hit",
)
_STAGES = (
    "townships",
    "network",
    "registers",
    "population",
    "coverage",
    "targets",
    "service areas",
    "accessibility",
    "map layers",
    "siting",
    "write",
    "total",
)
_TEXT = {
    lang: {
        **{key: label(f"cli_{key}", lang) for key in _TEXT_KEYS},
        **{key: label(key, lang) for key in ("met", "not_met", "na")},
        "sensitivity_columns": tuple(
            label(f"cli_sensitivity_col_{k}", lang)
            for k in ("target", "robust", "fragile", "townships")
        ),
        "stages": {key: label(f"cli_stage_{key.replace(' ', '_')}", lang) for key in _STAGES},
    }
    for lang in LANGS
}


def _setup_logging(verbose: int) -> None:
    """Live log lines only with -v (-vv for debug).

    Warnings are not taken from the log: a run returns them (``RunResult.warnings``) and the
    summary prints each once, after the progress bars.
    """
    logger = logging.getLogger("lifecircle")
    logger.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.addHandler(
        RichHandler(console=console, show_path=False) if verbose else logging.NullHandler()
    )


class _RichProgress:
    """Adapts the library's ``progress(step, done, total)`` callback to rich progress bars."""

    def __init__(self, progress: Progress, lang: str) -> None:
        self.progress = progress
        self.lang = lang
        self.tasks: dict[str, int] = {}

    def __call__(self, step: str, done: int, total: int) -> None:
        if step not in self.tasks:
            self.tasks[step] = self.progress.add_task(
                progress_text(step, self.lang), total=max(total, 1)
            )
        self.progress.update(self.tasks[step], completed=done, total=max(total, 1))


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def _fail(exc: LifecircleError) -> typer.Exit:
    console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
    return typer.Exit(code=1)


def _print_layers(counts: pd.DataFrame, text: dict[str, str]) -> None:
    table = Table(title=text["layers"])
    for column in (text["layer"], text["used"], text["rejected"]):
        table.add_column(column)
    shared = counts["file"].duplicated(keep=False)
    for row, same_name in zip(counts.itertuples(), shared, strict=True):
        # the file name, or the layer key when two registers share a file name
        table.add_row(row.layer if same_name else row.file, str(row.used), str(row.rejected))
    console.print(table)


def _print_warnings(warnings: list[str], text: dict[str, str]) -> None:
    for warning in warnings:
        console.print(f"[yellow]{text['warnings']}:[/] {escape(warning)}", highlight=False)


def _print_summary(result: RunResult, out_dir: Path) -> None:
    """Area targets numbered #1…, then per township the counts and the numbers not met."""
    text = _TEXT[result.lang]
    colour = {"met": "green", "not_met": "red", "na": "grey50"}
    number = {tid: i + 1 for i, tid in enumerate(result.gap_summary["target_id"])}
    area = Table(title=text["area"])
    headers = SUMMARY_HEADERS[result.lang]
    area.add_column("#", justify="right")
    for column in (headers[1], *headers[3:7]):
        area.add_column(column, overflow="fold")
    report = GapReport(rows=result.gaps, summary=result.gap_summary)
    rows = summary_rows(report, result.lang)
    for tid, status, row in zip(
        result.gap_summary["target_id"], result.gap_summary["status"], rows, strict=True
    ):
        style = colour.get(status, "white")
        area.add_row(str(number[tid]), row[1], row[3], row[4], f"[{style}]{row[5]}[/]", row[6])
    console.print(area)

    gaps = result.gaps
    township_rows = gaps[gaps["level"] == "township"]
    table = Table(title=text["per_township"])
    for column in (
        text["township"],
        text["code"],
        text["kind"],
        text["met"],
        text["not_met"],
        text["na"],
        text["unmet_targets"],
    ):
        table.add_column(column, overflow="fold")
    for township in result.townships.itertuples():
        rows = township_rows[township_rows["unit_code"] == township.code]
        status = rows["status"].value_counts()
        unmet = " ".join(
            f"#{number[t]}"
            for t in rows.loc[rows["status"] == "not_met", "target_id"]
            if t in number
        )
        table.add_row(
            township.name,
            township.code,
            township.kind_zh if result.lang == "zh" else township.kind,
            f"[green]{status.get('met', 0)}[/]",
            f"[red]{status.get('not_met', 0)}[/]",
            str(status.get("na", 0)),
            unmet,
        )
    console.print(table)
    _print_coverage(result, text)
    for category, info in result.siting.items():
        name = result.categories.get(category, {}).get(
            "name_zh" if result.lang == "zh" else "name_en", category
        )
        console.print(
            text["siting"].format(
                name=name,
                sites=info["sites"],
                method=info["method"],
                gap=info["gap"] or 0.0,
                before=info["share_before"],
                after=info["share_after"],
            ),
            highlight=False,
        )
    _print_layers(result.layer_counts, text)
    _print_network_audit(result.network_audit, text)
    _print_sensitivity(result, text)
    if len(result.rejected):
        console.print(f"{len(result.rejected)} {text['rejected_rows']} {out_dir / 'rejected.csv'}")
    _print_warnings(result.warnings, text)
    _print_timings(result.run_info, text)
    console.print(f"{text['written']} [bold]{out_dir}[/]")


def _print_timings(run_info: dict, text: dict) -> None:
    """One line: seconds per stage (as run.json has them), the total and the peak memory."""
    timings = run_info.get("timings_s", {})
    if not timings:
        return
    parts = [f"{text['stages'].get(k, k)} {v:.1f} s" for k, v in timings.items() if k != "total"]
    line = f"{text['timings']}: " + " · ".join(parts)
    if "total" in timings:
        line += f" | {text['stages'].get('total', 'total')} {timings['total']:.1f} s"
    memory = run_info.get("peak_memory_mb")
    if memory:
        line += f" | {text['peak_memory']} {memory['max'] / 1024:.2f} GB"
    if run_info.get("network", {}).get("cache") == "hit":
        line += f" ({text['cache_hit']})"
    console.print(line, highlight=False)


def _print_network_audit(audit: dict, text: dict[str, str]) -> None:
    """One paragraph: what the walk rules kept and dropped, connectivity, points far from roads."""
    if not audit:
        return
    by_rule = ", ".join(
        f"{rule} {info['km']:.1f} km" for rule, info in audit.get("by_rule", {}).items()
    )
    connectivity = audit.get("connectivity", {})
    console.print(
        text["audit"].format(
            rules=audit.get("walk_rules", ""),
            kept=audit.get("kept_km", 0.0),
            dropped=audit.get("dropped_km", 0.0),
            by_rule=f" ({by_rule})" if by_rule else "",
            parts=connectivity.get("components", 0),
            share=connectivity.get("main_component_share", 0.0),
            snap=audit.get("max_snap_m", 0),
            far_fac=len(audit.get("facilities_far_from_roads", [])),
            far_pop60=audit.get("pop60_far_from_roads", 0.0),
            outside=audit.get("outside_facilities", 0),
        ),
        highlight=False,
    )


def _print_sensitivity(result, text: dict[str, str]) -> None:
    """Per service-circle target: townships robust or fragile, and each fragile one's range."""
    sensitivity = result.sensitivity
    if sensitivity is None:
        return
    ranges = sensitivity.ranges[sensitivity.ranges["level"] == "township"]
    table = Table(
        title=text["sensitivity"].format(
            settings=", ".join(s.label for s in sensitivity.settings),
            fragile=sensitivity.fragile_count(),
            total=len(ranges),
        )
    )
    for column in text["sensitivity_columns"]:
        table.add_column(column, overflow="fold")
    for _, rows in ranges.groupby("target_id", sort=False):
        fragile = rows[rows["robustness"] == "fragile"]
        table.add_row(
            str(rows["indicator"].iloc[0]),
            str(int((rows["robustness"] == "robust").sum())),
            f"[yellow]{len(fragile)}[/]" if len(fragile) else "0",
            "、".join(f"{r.unit_name} {r.low:.0f}–{r.high:.0f}%" for r in fragile.itertuples()),
        )
    console.print(table)


def _print_coverage(result, text: dict[str, str]) -> None:
    """Share of seniors within each kind's longest walk threshold, per township and category."""
    metrics = result.township_metrics
    if metrics.empty:
        return
    longest = metrics.groupby("township_code")["threshold_min"].transform("max")
    main = metrics[metrics["threshold_min"] == longest]
    key = "name_zh" if result.lang == "zh" else "name_en"
    categories = sorted(main["category"].unique())
    table = Table(title=text["coverage"])
    table.add_column(text["township"])
    table.add_column(text["minutes"], justify="right")
    for category in categories:
        table.add_column(result.categories.get(category, {}).get(key, category), justify="right")
    shares = main.pivot_table(index="township_code", columns="category", values="share_pop60")
    minutes = main.groupby("township_code")["threshold_min"].first()
    for township in result.townships.itertuples():
        if township.code not in shares.index:
            continue
        row = shares.loc[township.code]
        cells = ["—" if pd.isna(row.get(c)) else f"{row[c]:.0%}" for c in categories]
        table.add_row(township.name, f"{minutes[township.code]:g}", *cells)
    console.print(table)


def _run(
    plan_path: Path,
    out: Path | None,
    lang: str | None,
    offline_map: bool,
    basemap: str | None,
    tiles_url: str | None,
    verbose: int,
    siting_override=None,
    sensitivity: bool = False,
) -> None:
    from lifecircle.api import run as run_api
    from lifecircle.pipeline import RunOptions, default_out_dir
    from lifecircle.plan import load_plan

    plan = None
    _setup_logging(verbose)
    if lang is not None and lang not in _TEXT:
        raise typer.BadParameter(f"--lang must be zh or en, got {lang!r}")
    try:
        plan = load_plan(plan_path)
        if siting_override is not None:
            plan = dataclasses.replace(plan, siting=(siting_override(plan),))
        options = RunOptions(
            lang=lang,
            offline_map=offline_map,
            basemap=basemap,
            tiles_url=tiles_url,
            sensitivity=sensitivity,
        )
        with _progress() as progress:
            result = run_api(
                plan,
                out or default_out_dir(plan),
                options=options,
                progress=_RichProgress(progress, lang or plan.study.lang),
            )
    except LifecircleError as exc:
        raise _fail(exc) from None
    except KeyboardInterrupt:
        text = _TEXT[lang or (plan.study.lang if plan else "zh")]
        where = out or (default_out_dir(plan) if plan else "out")
        console.print(text["interrupted"].format(out=where), highlight=False)
        raise typer.Exit(code=130) from None
    _print_summary(result, result.out_dir)


@app.command()
def demo(
    out: OutOpt = None,
    lang: LangOpt = None,
    offline_map: OfflineOpt = False,
    basemap: BasemapOpt = None,
    tiles_url: TilesOpt = None,
    verbose: VerboseOpt = 0,
    sensitivity: SensitivityOpt = False,
) -> None:
    """Run the built-in sample district 示范区 (fictional) end to end."""
    from lifecircle.plan import SAMPLE_PLAN

    _run(SAMPLE_PLAN, out, lang, offline_map, basemap, tiles_url, verbose, sensitivity=sensitivity)


@app.command()
def run(
    plan: PlanArg,
    out: OutOpt = None,
    lang: LangOpt = None,
    offline_map: OfflineOpt = False,
    basemap: BasemapOpt = None,
    tiles_url: TilesOpt = None,
    verbose: VerboseOpt = 0,
    sensitivity: SensitivityOpt = False,
) -> None:
    """Run a plan: coverage, targets, gaps, sites, maps and briefing."""
    _run(plan, out, lang, offline_map, basemap, tiles_url, verbose, sensitivity=sensitivity)


@app.command()
def batch(
    province: Annotated[
        Path,
        typer.Argument(
            help="Province plan (TOML listing county plans) or a folder of county plans.",
            exists=True,
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Province output folder \\[default: out/<province name>]."
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-w",
            help="Local dask workers \\[default: one per core]; 0 runs the "
            "counties one after another without dask.",
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler", help="Address of a running dask scheduler, e.g. tcp://host:8786."
        ),
    ] = None,
    memory_limit: Annotated[
        str, typer.Option("--memory-limit", help="Memory limit per local worker, e.g. 4GiB.")
    ] = "auto",
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Run only the counties whose last run failed.")
    ] = False,
    no_siting: Annotated[
        bool, typer.Option("--no-siting", help="Skip proposing sites in each county.")
    ] = False,
    lang: LangOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Run every county of a province (dask.distributed), then write the province roll-up."""
    from lifecircle.batch import load_province, run_batch, start_client
    from lifecircle.output import folder_name

    _setup_logging(verbose)
    lang = lang or "zh"
    try:
        plan = load_province(province)
        out_dir = out or Path("out") / folder_name(plan.name)
        client = (
            None
            if workers == 0 and not scheduler
            else start_client(workers, memory_limit=memory_limit, scheduler=scheduler)
        )
        if client is not None:
            console.print(f"dask dashboard: {client.dashboard_link}", highlight=False)
        try:
            with _progress() as progress:
                task = progress.add_task(_TEXT[lang]["counties"], total=None)

                def advance(outcome, done: int, total: int) -> None:
                    progress.update(
                        task,
                        completed=done,
                        total=total,
                        description=f"{_TEXT[lang]['counties']} · {outcome.name}",
                    )

                result = run_batch(
                    plan,
                    out_dir,
                    client=client,
                    retry_failed=retry_failed,
                    siting=not no_siting,
                    lang=lang,
                    progress=advance,
                )
        finally:
            if client is not None:
                client.close()
    except LifecircleError as exc:
        raise _fail(exc) from None
    table = Table(title=escape(plan.name), show_lines=False)
    for head in (
        _TEXT[lang]["county"],
        _TEXT[lang]["state"],
        _TEXT[lang]["seconds"],
        _TEXT[lang]["error"],
    ):
        table.add_column(head)
    for o in result.outcomes:
        table.add_row(escape(o.name), _TEXT[lang][o.status], f"{o.seconds:.1f}", escape(o.error))
    console.print(table)
    console.print(
        f"{_TEXT[lang]['written']} {escape(str(result.out_dir))} "
        f"({result.engine}, {result.seconds:.1f} s)",
        highlight=False,
    )
    if result.failed:
        raise typer.Exit(code=1)


@app.command()
def site(
    plan: PlanArg,
    category: Annotated[
        str, typer.Option("--category", "-c", help="Category to site, e.g. meal_point.")
    ],
    p: Annotated[int | None, typer.Option("-p", help="Number of new sites.")] = None,
    target_share: Annotated[
        float | None,
        typer.Option(
            "--target-share", help="Instead of -p: fewest sites reaching this covered share (0–1)."
        ),
    ] = None,
    threshold_min: Annotated[
        float, typer.Option("--threshold", "-t", help="Walk time in minutes.")
    ] = 15.0,
    population: Annotated[str, typer.Option(help="pop60 (seniors) or pop (everyone).")] = "pop60",
    out: OutOpt = None,
    lang: LangOpt = None,
    offline_map: OfflineOpt = False,
    basemap: BasemapOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Propose new sites for one category (overrides the plan's \\[siting]) and run the plan."""
    from lifecircle.plan import SitingSpec

    if p is None and target_share is None:
        raise typer.BadParameter("give -p (number of sites) or --target-share")

    def override(loaded_plan):
        registry_keys = {layer.category for layer in loaded_plan.layers}
        if category not in registry_keys:
            raise LifecircleError(
                f"--category {category!r} has no register in {plan.name}: "
                f"use one of {', '.join(sorted(registry_keys))}"
            )
        return SitingSpec(
            category=category,
            p=p,
            target_share=target_share,
            threshold_min=threshold_min,
            population=population,
        )

    _run(plan, out, lang, offline_map, basemap, None, verbose, siting_override=override)


@app.command()
def validate(plan: PlanArg, verbose: VerboseOpt = 0) -> None:
    """Check the plan and every input; exit non-zero on fatal problems."""
    from lifecircle.pipeline import load_inputs
    from lifecircle.plan import load_plan

    _setup_logging(verbose)
    try:
        loaded = load_plan(plan)
        with _progress() as progress:
            inputs = load_inputs(loaded, progress=_RichProgress(progress, loaded.study.lang))
    except LifecircleError as exc:
        raise _fail(exc) from None
    text = _TEXT[loaded.study.lang]
    _print_layers(inputs.layer_counts, text)
    console.print(
        f"townships: {len(inputs.townships)}, network nodes: {inputs.network_summary.nodes}, "
        f"demand cells: {len(inputs.demand)}, targets: {len(loaded.targets)}"
    )
    for row in inputs.rejected.itertuples():
        detail = escape(f"{row.file} {row.row}: {row.reason} — {row.fix}")
        console.print(f"[red]{text['rejected']}:[/] {detail}", highlight=False)
    _print_warnings(inputs.warnings, text)
    console.print("[green]OK[/]")


@app.command()
def presets(
    plan: Annotated[
        Path | None,
        typer.Argument(help=escape("Plan whose data to evaluate [default: the sample].")),
    ] = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print a Markdown table.")] = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Evaluate every built-in preset (Taizhou, Hailing, Jinjiang, …) on a plan's data."""
    from lifecircle.pipeline import evaluate_presets, load_inputs
    from lifecircle.plan import SAMPLE_PLAN, load_plan

    _setup_logging(verbose)
    try:
        loaded = load_plan(plan or SAMPLE_PLAN)
        with _progress() as progress:
            report = _RichProgress(progress, loaded.study.lang)
            inputs = load_inputs(loaded, progress=report)
            table = evaluate_presets(loaded, inputs, progress=report)
    except LifecircleError as exc:
        raise _fail(exc) from None
    if markdown:
        print(presets_markdown(table, loaded.study.name))
        return
    out = Table(title=f"{loaded.study.name}: presets")
    for column in ("preset", "indicator", "document", "status", "note"):
        out.add_column(column, overflow="fold")
    for row in table.itertuples():
        out.add_row(row.preset, row.indicator, row.document, row.status_zh, row.note)
    console.print(out)


def presets_markdown(table: pd.DataFrame, study_name: str) -> str:
    """The preset table as Markdown (the README's table is made with this)."""
    lines = [
        f"| preset | indicator (指标) | document | {study_name} |",
        "|---|---|---|---|",
    ]
    for row in table.itertuples():
        note = str(row.note).split("；")[0].split("（")[0] if row.status == "na" else ""
        status = f"{row.status_zh}（{note}）" if note else row.status_zh
        lines.append(f"| `{row.preset}` | {row.indicator} | {row.document} | {status} |")
    return "\n".join(lines)


@app.command()
def fetch(
    place: Annotated[str, typer.Option("--place", help='e.g. "海陵区, 泰州市, 江苏省".')],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder to write the data and plan into.")
    ],
    verbose: VerboseOpt = 0,
) -> None:
    """Download a district's walk network, townships and OSM facilities (needs internet)."""
    from lifecircle.fetch import fetch_district
    from lifecircle.layers.categories import load_registry

    _setup_logging(verbose)
    try:
        registry = load_registry()
        with console.status(f"fetching {place} from OpenStreetMap…"):
            plan_path = fetch_district(place, out, osm_tags_by_layer=registry.osm_tags())
    except LifecircleError as exc:
        raise _fail(exc) from None
    console.print(f"starter plan written: [bold]{plan_path}[/]; run `lifecircle run {plan_path}`")


if __name__ == "__main__":
    app()
