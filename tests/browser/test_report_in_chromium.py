"""The HTML report in a real browser: headless Chromium (Debian's package) opens a report that a
pytester run of the toy project wrote, and the summary matrix, both plots, the results table that
pytest-html's script builds and a failed test's flipped items must render with a size on screen.
The screenshot is kept as reports/browser/report.png (a CI artifact)."""

import shutil
from pathlib import Path

import datasets  # noqa: F401  imported here so pytester's module snapshot keeps it (pyarrow cannot re-register)
import pytest

from tests.toy import make_project, run

SCREENSHOT = Path(__file__).parents[2] / "reports" / "browser" / "report.png"
# As root on a machine with a closed network: no sandbox, and no background connections to refuse.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("the browser test needs Debian's chromium: apt-get install chromium", pytrace=False)
    return path


@pytest.fixture
def report(pytester, monkeypatch) -> Path:
    project = make_project(pytester, monkeypatch)
    run(project, "-m", "reference", "--record-missing-baselines").assert_outcomes(passed=3)
    run(project, "-k", "not broken", "--html", "reports/report.html").assert_outcomes(passed=6, failed=2, xfailed=1)
    return project.path / "reports" / "report.html"


def visible(page, selector: str) -> list[dict]:
    boxes = [page.locator(selector).nth(i).bounding_box() for i in range(page.locator(selector).count())]
    return [b for b in boxes if b and b["width"] > 50 and b["height"] > 50]


def test_report_renders_matrix_plots_table_and_flips(report):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(report.as_uri())
            assert len(visible(page, "#qg-matrix")) == 1
            assert page.locator("#qg-matrix tbody tr").count() == 3  # bf16, int8, int4-bad
            assert page.locator('#qg-matrix td[data-test="toy-int4-bad-mmlu"]').inner_text().startswith("0.0000")
            assert len(visible(page, "#qg-plots svg")) == 2  # forest and recovery plots
            assert page.locator("#results-table tbody.results-table-row").count() == 9  # built by the page's script
            page.get_by_text("Show all details").click()
            flips = page.locator(".qg-flipped").filter(has_text="lost: 8 item(s), BF16 right, variant wrong")
            assert flips.count() == 2 and flips.first.is_visible()  # int4-bad mmlu and piqa
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()
    assert SCREENSHOT.stat().st_size > 10_000
