"""The results history (directory and SQLite), movements between runs and the trend page."""

import pytest

from quantgate.cli.trend import main as trend_main
from quantgate.report.dashboard import matrix
from quantgate.results.history import HistoryError, Point, Run, last_run, movements, open_history
from quantgate.results.model import Moved, ResultsFile, TestResult


def results(created: str, **scores: float) -> ResultsFile:
    entries = [
        {"id": f"fam-int4-{bench}", "family": "fam", "variant": "int4", "benchmark": bench, "status": "passed",
         "score": score, "baseline": 0.5, "ci_low": -0.02, "ci_high": 0.02, "n": 400, "outcome": "passed"}
        for bench, score in scores.items()
    ]  # fmt: skip
    return ResultsFile(created=created, command=[], environment={}, engine_loads={}, results=entries)


@pytest.fixture(params=["history.sqlite", "history"])
def history_path(request, tmp_path):
    return tmp_path / request.param


def test_runs_come_back_in_order_with_their_points(history_path):
    history = open_history(history_path)
    for day, score in (("2026-11-02", 0.48), ("2026-11-01", 0.50), ("2026-11-03", 0.47)):
        history.append(results(f"{day}T02:00:00+00:00", gsm8k=score, mmlu=score - 0.1))
    runs = open_history(history_path).runs()
    assert [r.created[:10] for r in runs] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert [r.points["fam-int4-gsm8k"].score for r in runs] == [0.50, 0.48, 0.47]
    assert runs[-1].points["fam-int4-mmlu"].ci_high == 0.02 and runs[-1].points["fam-int4-mmlu"].n == 400


def test_the_same_run_is_not_added_twice(history_path):
    history = open_history(history_path)
    run = results("2026-11-01T02:00:00+00:00", gsm8k=0.5)
    assert history.append(run) == history.append(run)
    assert len(history.runs()) == 1


def test_a_corrupt_history_is_named_in_the_error(tmp_path):
    directory = tmp_path / "history"
    open_history(directory).append(results("2026-11-01T02:00:00+00:00", gsm8k=0.5))
    (directory / "2026-11-02T000000-bad.json").write_text('{"created": "2026-11-02", "results": [')
    with pytest.raises(HistoryError, match=r"history/2026-11-02T000000-bad.json: not valid JSON"):
        open_history(directory).runs()
    database = tmp_path / "broken.db"
    database.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(HistoryError, match=r"broken.db: not a quantgate history database"):
        open_history(database).runs()
    (directory / "2026-11-03T000000-other.json").write_text('{"created": "2026-11-03", "results": 7}')
    (directory / "2026-11-02T000000-bad.json").unlink()
    with pytest.raises(HistoryError, match=r"other.json: command: Field required \(not a quantgate results.json\)"):
        open_history(directory).runs()


def test_a_move_is_a_change_beyond_half_the_interval():
    assert movements(None, results("2026-11-01T02:00:00+00:00", gsm8k=0.5).results) == {}
    previous = Run("r1", "2026-11-01", {"fam-int4-gsm8k": Point(0.50, 0.5, -0.02, 0.02, "passed", 400)})
    now = results("2026-11-02T02:00:00+00:00", gsm8k=0.47, mmlu=0.40).results
    found = movements(previous, now)
    assert set(found) == {"fam-int4-gsm8k"}  # mmlu was not in the previous run
    assert found["fam-int4-gsm8k"].moved and found["fam-int4-gsm8k"].noise == pytest.approx(0.02)
    small = results("2026-11-02T02:00:00+00:00", gsm8k=0.49).results
    assert not movements(previous, small)["fam-int4-gsm8k"].moved


def test_the_matrix_marks_a_moved_result():
    entry = results("2026-11-02T02:00:00+00:00", gsm8k=0.47).results[0]
    assert isinstance(entry, TestResult)
    moved = Moved(previous=0.5, score=0.47, change=-0.03, noise=0.02, moved=True)
    entry = entry.model_copy(update={"moved": moved})
    assert "▼ moved -0.0300 since the last run (noise ±0.0200)" in matrix([entry])


def test_trend_page_has_a_chart_per_test(history_path, tmp_path, capsys):
    assert trend_main([str(history_path), "--out", str(tmp_path / "t.html")]) == 2
    assert "holds no run yet" in capsys.readouterr().err
    history = open_history(history_path)
    for day, score in (("01", 0.50), ("02", 0.49), ("03", 0.45)):
        history.append(results(f"2026-11-{day}T02:00:00+00:00", gsm8k=score, mmlu=0.3))
    assert last_run(history).created.startswith("2026-11-03")
    assert trend_main([str(history_path), "--out", str(tmp_path / "t.html")]) == 0
    page = (tmp_path / "t.html").read_text()
    assert page.count("<svg") == 2 and 'id="fam-int4-gsm8k"' in page and 'id="fam-int4-mmlu"' in page
    assert "-0.0400 (moved)" in page  # 0.49 -> 0.45 beyond the ±0.02 interval
    assert "-0.0100</td>" in page  # 0.50 -> 0.49 within it
    assert page.count('class="qg-test"') == 2
