"""The output folder is replaced atomically: a failed run leaves the previous output untouched."""

import json

import pytest

from lifecircle.output import staged_folder, write_json, write_text_atomic


def test_success_swaps_new_folder_in(tmp_path):
    out = tmp_path / "out" / "示范区"
    with staged_folder(out) as stage:
        (stage / "old.txt").write_text("old")
    with staged_folder(out) as stage:
        assert stage != out
        (stage / "gaps.csv").write_text("new")
        assert (out / "old.txt").exists(), "the old output must stay until the run succeeds"
    assert (out / "gaps.csv").read_text() == "new"
    assert not (out / "old.txt").exists()
    assert [p.name for p in out.parent.iterdir()] == ["示范区"], "no staging leftovers"


def test_failure_keeps_previous_output_and_leaves_nothing_half_written(tmp_path):
    out = tmp_path / "run"
    with staged_folder(out) as stage:
        (stage / "gaps.csv").write_text("previous")
    with pytest.raises(RuntimeError), staged_folder(out) as stage:
        (stage / "gaps.csv").write_text("half")
        raise RuntimeError("boom")
    assert (out / "gaps.csv").read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_failure_on_first_run_creates_no_folder(tmp_path):
    with pytest.raises(ValueError), staged_folder(tmp_path / "new") as stage:
        (stage / "x").write_text("x")
        raise ValueError
    assert list(tmp_path.iterdir()) == []


def test_text_and_json_writers(tmp_path):
    write_text_atomic(tmp_path / "a" / "b.txt", "中文")
    assert (tmp_path / "a" / "b.txt").read_text(encoding="utf-8") == "中文"
    write_json(tmp_path / "run.json", {"名称": "示范区", "n": 1})
    assert json.loads((tmp_path / "run.json").read_text(encoding="utf-8")) == {
        "名称": "示范区",
        "n": 1,
    }
    assert "示范区" in (tmp_path / "run.json").read_text(encoding="utf-8")
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["b.txt"]


def test_outputs_are_readable_by_others(tmp_path):
    with staged_folder(tmp_path / "out") as stage:
        write_text_atomic(stage / "gaps.csv", "x")
    assert (tmp_path / "out").stat().st_mode & 0o005 == 0o005
    assert (tmp_path / "out" / "gaps.csv").stat().st_mode & 0o004
