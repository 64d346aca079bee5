"""What blocks a release, from results.json's entries: for the end of the pytest run and as a
Markdown summary for a CI step summary or a pull-request comment (English or Chinese)."""

from __future__ import annotations

from typing import Any

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
BLOCKING = ("failed", "no-baseline", "refused", "error")


def status_of(entry: dict[str, Any]) -> str:
    """passed, recorded, failed, no-baseline, refused, waived or error."""
    if "id" not in entry or entry.get("outcome") == "error":
        return "error"
    if entry.get("waiver") and entry.get("outcome") == "skipped":  # pytest reports an xfail as skipped
        return "waived"
    return str(entry.get("status") or entry.get("outcome"))


def blockers(results: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Test ids by reason, for every reason that blocks a release, plus the underpowered ones."""
    found: dict[str, list[str]] = {reason: [] for reason in (*BLOCKING, "warned", "underpowered")}
    for entry in results:
        status, name = status_of(entry), entry.get("id") or entry.get("nodeid", "?")
        if status in BLOCKING or status == "warned":
            found[status].append(name)
        if entry.get("underpowered") and status != "waived":
            found["underpowered"].append(name)
    return {reason: ids for reason, ids in found.items() if ids}


def verdict(results: list[dict[str, Any]], lang: str = "en", run: dict[str, Any] | None = None) -> list[str]:
    """Lines saying whether the release may go, and what blocks it; a run that did not finish
    (``run.complete`` false) has no verdict, whatever its finished tests say."""
    text = TEXT[lang]
    found = blockers(results)
    count = sum(len(found.get(r, [])) for r in BLOCKING)
    statuses = [status_of(e) for e in results]
    if run is not None and not run.get("complete", True):
        lines = [text["incomplete"].format(reason=run.get("reason"))]
        if run.get("not_run"):
            lines.append(text["not_run"].format(ids=", ".join(run["not_run"])))
        if count:
            lines.append(text["blocked"].format(count=count))
    elif count == 0:
        lines = [text["clear"].format(passed=statuses.count("passed") + statuses.count("recorded"),
                                      waived=statuses.count("waived"))]  # fmt: skip
    else:
        lines = [text["blocked"].format(count=count)]
    for reason, ids in found.items():
        lines.append(f"- {text[reason]}: {', '.join(ids)}")
    rates = release_rates(results)
    if rates:
        lines.append(text["rates"])
        for variant, (clear, drops) in rates.items():
            shown = ", ".join(f"{benchmark} {drop:.3g}" for benchmark, drop in drops)
            lines.append(text["rate"].format(variant=variant, gates=len(drops), clear=clear, drops=shown))
    return lines


def release_rates(results: list[dict[str, Any]]) -> dict[str, tuple[float, list[tuple[str, float]]]]:
    """Per variant: the chance that an unchanged variant clears every gate it faced in this run (the
    product of each gate's), and each gate's smallest drop blocked with 95% probability."""
    rates: dict[str, tuple[float, list[tuple[str, float]]]] = {}
    for entry in results:
        if entry.get("unchanged_pass") is None or status_of(entry) in ("waived", "recorded"):
            continue  # a waived test does not block; a recorded baseline was compared with itself
        variant = f"{entry['family']}-{entry['variant']}"
        clear, drops = rates.get(variant, (1.0, []))
        rates[variant] = (clear * entry["unchanged_pass"], [*drops, (entry["benchmark"], entry["drop_blocked_95"])])
    return rates


def _number(value: Any, fmt: str) -> str:
    return "" if value is None else format(value, fmt)


def markdown(results: list[dict[str, Any]], lang: str = "en", run: dict[str, Any] | None = None) -> str:
    text = TEXT[lang]
    lines = [f"## {text['title']}", "", *verdict(results, lang, run), ""]
    columns = COLUMNS[lang]
    lines += ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for entry in results:
        status = status_of(entry)
        label = text.get(status, status) + (" ⚠" if entry.get("underpowered") else "")
        ci = f"[{entry['ci_low']:+.4f}, {entry['ci_high']:+.4f}]" if entry.get("ci_low") is not None else ""
        lost = f"{entry['lost']} / {entry['gained']}" if entry.get("lost") is not None else ""
        cells = [
            entry.get("id") or entry.get("nodeid", "?"), label, _number(entry.get("score"), ".4f"),
            _number(entry.get("baseline"), ".4f"), _number(entry.get("delta"), "+.4f"), ci, lost,
            _number(entry.get("n"), "d"), _number(entry.get("mdd"), ".4f"),
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
