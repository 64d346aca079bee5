"""What blocks a release, from results.json's entries: for the end of the pytest run and as a
Markdown summary for a CI step summary or a pull-request comment (English or Chinese)."""

from __future__ import annotations

from collections.abc import Sequence

from quantgate.results.model import Entry, RunState, Status, TestResult
from quantgate.results.status import BLOCKING, status_of

COLUMNS = {
    "en": ("test", "status", "score", "baseline", "Δ", "90% CI", "lost / gained", "n", "min. detectable drop"),
    "zh": ("测试", "状态", "得分", "基线", "Δ", "90% 置信区间", "变差 / 变好", "n", "最小可检测下降"),
}
TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "quantgate release gate",
        "clear": "Release gate: **clear** ({passed} passed, {waived} waived)",
        "blocked": "Release gate: **BLOCKED** by {count} test(s)",
        "incomplete": "Release gate: **INCOMPLETE**, no verdict: {reason}",
        "not_run": "- did not finish: {ids}",
        "passed": "passed",
        "recorded": "recorded",
        "waived": "waived",
        "failed": "failed",
        "skipped": "skipped",
        "no-baseline": "missing baseline",
        "refused": "baseline refused",
        "error": "error",
        "underpowered": "underpowered (not blocking; the run is too small to resolve its margin)",
        "warned": "failed, warn-only by policy (not blocking)",
        "rates": "Error rates at this run's sizes and flip rates (normal approximation):",
        "rate": "- {variant}: an unchanged variant clears its {gates} gates with probability {clear:.1%}; "
        "smallest drop blocked with 95% probability: {drops}",
    },
    "zh": {
        "title": "quantgate 发布门禁",
        "clear": "发布门禁：**通过**（{passed} 项通过，{waived} 项豁免）",
        "blocked": "发布门禁：**阻止发布**，共 {count} 项测试",
        "incomplete": "发布门禁：**运行未完成**，无结论：{reason}",
        "not_run": "- 未完成：{ids}",
        "passed": "通过",
        "recorded": "已记录基线",
        "waived": "已豁免",
        "failed": "未通过",
        "skipped": "已跳过",
        "no-baseline": "缺少基线",
        "refused": "基线被拒绝",
        "error": "错误",
        "underpowered": "样本量不足（不阻止发布；本次运行无法分辨其容差）",
        "warned": "未通过，按策略仅警告（不阻止发布）",
        "rates": "按本次运行的样本量与翻转率估计的错误率（正态近似）：",
        "rate": "- {variant}：未变化的变体通过全部 {gates} 项门禁的概率为 {clear:.1%}；"
        "以 95% 概率被阻止的最小下降：{drops}",
    },
}
REASONS = (Status.FAILED, Status.NO_BASELINE, Status.REFUSED, Status.ERROR, Status.WARNED)


def blockers(results: Sequence[Entry]) -> dict[str, list[str]]:
    """Test ids by reason, for every reason that blocks a release, plus warned and underpowered ones."""
    found: dict[str, list[str]] = {reason.value: [] for reason in REASONS}
    found["underpowered"] = []
    for entry in results:
        status = status_of(entry)
        if status in REASONS:
            found[status.value].append(entry.name)
        if isinstance(entry, TestResult) and entry.underpowered and status is not Status.WAIVED:
            found["underpowered"].append(entry.name)
    return {reason: ids for reason, ids in found.items() if ids}


def blocked_count(results: Sequence[Entry]) -> int:
    return sum(status_of(entry) in BLOCKING for entry in results)


def verdict(results: Sequence[Entry], lang: str = "en", run: RunState | None = None) -> list[str]:
    """Lines saying whether the release may go, and what blocks it; a run that did not finish
    (``run.complete`` false) has no verdict, whatever its finished tests say."""
    text = TEXT[lang]
    count = blocked_count(results)
    statuses = [status_of(e) for e in results]
    if run is not None and not run.complete:
        lines = [text["incomplete"].format(reason=run.reason)]
        if run.not_run:
            lines.append(text["not_run"].format(ids=", ".join(run.not_run)))
        if count:
            lines.append(text["blocked"].format(count=count))
    elif count == 0:
        lines = [text["clear"].format(passed=statuses.count(Status.PASSED) + statuses.count(Status.RECORDED),
                                      waived=statuses.count(Status.WAIVED))]  # fmt: skip
    else:
        lines = [text["blocked"].format(count=count)]
    for reason, ids in blockers(results).items():
        lines.append(f"- {text[reason]}: {', '.join(ids)}")
    rates = release_rates(results)
    if rates:
        lines.append(text["rates"])
        for variant, (clear, drops) in rates.items():
            shown = ", ".join(f"{benchmark} {drop:.3g}" for benchmark, drop in drops)
            lines.append(text["rate"].format(variant=variant, gates=len(drops), clear=clear, drops=shown))
    return lines


def release_rates(results: Sequence[Entry]) -> dict[str, tuple[float, list[tuple[str, float]]]]:
    """Per variant: the chance that an unchanged variant clears every gate it faced in this run (the
    product of each gate's), and each gate's smallest drop blocked with 95% probability."""
    rates: dict[str, tuple[float, list[tuple[str, float]]]] = {}
    for entry in results:
        if not isinstance(entry, TestResult) or entry.unchanged_pass is None or entry.drop_blocked_95 is None:
            continue
        if status_of(entry) in (Status.WAIVED, Status.RECORDED):
            continue  # a waived test does not block; a recorded baseline was compared with itself
        clear, drops = rates.get(entry.variant_key, (1.0, []))
        rates[entry.variant_key] = (clear * entry.unchanged_pass, [*drops, (entry.benchmark, entry.drop_blocked_95)])
    return rates


def _number(value: float | None, fmt: str) -> str:
    return "" if value is None else format(value, fmt)


def markdown(results: Sequence[Entry], lang: str = "en", run: RunState | None = None) -> str:
    text = TEXT[lang]
    lines = [f"## {text['title']}", "", *verdict(results, lang, run), ""]
    columns = COLUMNS[lang]
    lines += ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for entry in results:
        status = status_of(entry)
        cells = [entry.name, text[status.value]] + [""] * (len(columns) - 2)
        if isinstance(entry, TestResult):
            cells[1] += " ⚠" if entry.underpowered else ""
            cells[2:] = [
                _number(entry.score, ".4f"), _number(entry.baseline, ".4f"), _number(entry.delta, "+.4f"),
                entry.interval_text(), entry.lost_gained_text(), _number(entry.n, "d"), _number(entry.mdd, ".4f"),
            ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
