"""The report's matrix cells and flipped-items tables, from results.json entries."""

from quantgate.report.dashboard import flips_table, matrix
from quantgate.results.model import Flips
from tests.fakes import result_entries, result_entry


def entry(**fields):
    base = {"id": "fam-int4-gsm8k", "family": "fam", "variant": "int4", "benchmark": "gsm8k", "status": "passed",
            "outcome": "passed", "metric": "acc", "score": 0.86, "baseline": 0.88, "delta": -0.02,
            "ci_low": -0.035, "ci_high": -0.005}  # fmt: skip
    return result_entry({**base, **fields})


def test_a_cell_shows_score_interval_published_and_decision():
    cell = matrix([entry(published=0.873)])
    assert "<strong>0.8600</strong>" in cell and "Δ -0.0200 [-0.0350, -0.0050]" in cell
    assert "published 0.8730" in cell and "passed" in cell and "#dafbe1" in cell  # pass tint


def test_perplexity_cells_use_its_units_and_failures_are_red():
    numbers = {"score": 24200.2, "baseline": 21786.7, "delta": 2413.5, "ci_low": 1669.65, "ci_high": 3575.22}
    cell = matrix([entry(benchmark="wikitext", metric="word_perplexity", status="failed", outcome="failed", **numbers)])
    assert "24,200.2" in cell and "Δ +2,413.5 [+1,669.7, +3,575.2]" in cell and "#ffebe9" in cell


def test_flips_table_escapes_model_output():
    flips = {"lost_count": 1, "gained_count": 0, "gained": [],
             "lost": [{"id": "7", "change": -1.0, "prompt": "Q: 2+2?", "target": "4", "output": "<script>x</script>",
                       "extracted": "5", "reference_output": "4", "reference_extracted": "4"}]}  # fmt: skip
    table = flips_table(Flips.model_validate(flips))
    assert "lost: 1 item(s), BF16 right, variant wrong" in table
    assert "<script>" not in table and "&lt;script&gt;x&lt;/script&gt;" in table
    assert flips_table(Flips(lost_count=0, gained_count=0, lost=[], gained=[])) == ""


def test_a_waived_or_warned_test_has_one_colour_in_the_matrix_the_summary_and_on_the_trend_page():
    from quantgate.report.trend import chart
    from quantgate.results.history import Run, points_of
    from quantgate.results.status import COLOURS, judge
    from quantgate.results.summary import markdown

    waived, warned = result_entries(
        {"id": "f-int4-piqa", "status": "failed", "outcome": "skipped", "waiver": "known drop", "score": 0.5},
        {"id": "f-int4-mmlu", "status": "warned", "outcome": "passed", "score": 0.5},
    )
    assert (judge(waived).colour, judge(warned).colour) == (COLOURS["waived"], COLOURS["underpowered"])
    assert not judge(waived).blocks and not judge(warned).blocks
    cells = matrix([waived, warned])
    assert 'style="background:#f6f8fa" data-test="f-int4-piqa"' in cells  # grey, as a waiver is everywhere
    assert 'style="background:#fff1d6" data-test="f-int4-mmlu"' in cells  # orange
    summary = markdown([waived, warned])
    assert "| f-int4-piqa | waived |" in summary and "| f-int4-mmlu | failed, warn-only by policy" in summary
    assert "**clear**" in summary
    points = points_of([waived, warned])
    run = Run("r", "2026-12-01T00:00:00", points)
    assert points["f-int4-piqa"].status == "waived" and points["f-int4-mmlu"].status == "warned"
    trend_waived = chart("f-int4-piqa", [(run, points["f-int4-piqa"])])
    trend_warned = chart("f-int4-mmlu", [(run, points["f-int4-mmlu"])])
    assert COLOURS["waived"] in trend_waived and COLOURS["fail"] not in trend_waived
    assert COLOURS["underpowered"] in trend_warned and COLOURS["fail"] not in trend_warned


def test_the_metric_direction_comes_from_results_json_not_the_metric_name():
    from quantgate.report.plots import recovery

    lower = entry(metric="bits_per_byte", higher_is_better=False, score=2.0, baseline=1.0)
    assert recovery(lower) == 50.0  # doubled bits per byte: half the quality, whatever the name says
    older = {"id": "f-int4-wikitext", "metric": "word_perplexity", "score": 2.0, "baseline": 1.0}
    assert recovery(result_entry(older)) == 50.0  # files written before the direction was recorded
    assert recovery(entry(metric="acc", higher_is_better=True, score=0.4, baseline=0.5)) == 80.0


def test_the_report_names_each_family_with_its_description_and_published_source():
    from quantgate.report.dashboard import dashboard

    described = entry(family_description="Qwen3-8B and its quantized releases", published_source="the model card")
    page = dashboard([described, entry(id="fam-int8-gsm8k", variant="int8")])
    assert page.count("<li><strong>fam</strong>") == 1
    assert "Qwen3-8B and its quantized releases <em>(published numbers: the model card)</em>" in page
