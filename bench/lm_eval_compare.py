"""Per-item decisions of lm-evaluation-harness and quantgate on the same items, compared.

lm-eval's side is its ``--log_samples`` files (``samples_<task>_<date>.jsonl``: per document its
request arguments, each choice's log-likelihood in ``filtered_resps``, per-document ``acc`` /
``acc_norm``, GSM8K's ``exact_match`` once per filter, WikiText's ``word_perplexity`` as
``[loglikelihood, words]``); quantgate's is its per-item files (``reports/items/<test id>.jsonl``:
scores, extracted answer, output, prompt). A decision is the same when every score both report is
equal and the chosen answer is the same (the choice picked, GSM8K's strict-match answer);
WikiText's per-document log-likelihoods are the same within ``RELATIVE`` (1e-3).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

RELATIVE = 1e-3
# quantgate metric -> lm-eval's per-document field (GSM8K: its filter's exact_match)
CHOICE_METRICS = {"mmlu": ("acc",), "hellaswag": ("acc", "acc_norm"), "arc_challenge": ("acc", "acc_norm")}
GSM8K_FILTERS = {"strict_match": "strict-match", "flexible_extract": "flexible-extract"}
PRIMARY = {"mmlu": "acc", "gsm8k": "strict_match", "hellaswag": "acc_norm", "arc_challenge": "acc_norm",
           "wikitext": "word_perplexity"}  # fmt: skip


@dataclass(frozen=True)
class Decision:
    """One item as one tool decided it."""

    scores: dict[str, float]
    answer: str | None
    prompt: str | None = None
    output: str | None = None


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def samples_file(folder: Path, task: str) -> Path:
    """lm-eval's samples file of ``task`` under its ``--output_path`` (one model folder, one date)."""
    found = sorted(folder.rglob(f"samples_{task}_*.jsonl"))
    if not found:
        raise FileNotFoundError(f"no samples_{task}_*.jsonl under {folder}")
    return found[-1]


def _arguments(row: dict) -> list[dict]:
    args = row["arguments"]
    return [args[k] for k in sorted(args, key=lambda k: int(k.rsplit("_", 1)[1]))]


def lm_eval_choice(row: dict, metrics: tuple[str, ...]) -> Decision:
    """A multiple-choice document: the choice with the largest log-likelihood (as ``acc`` picks it)."""
    lls = [float(resp[0]) for resp in row["filtered_resps"]]
    arguments = _arguments(row)
    best = max(range(len(lls)), key=lambda i: lls[i])
    return Decision({m: float(row[m]) for m in metrics}, arguments[best]["arg_1"].removeprefix(" "),
                    prompt=arguments[0]["arg_0"])  # fmt: skip


def lm_eval_gsm8k(rows: list[dict]) -> Decision:
    """A GSM8K document's rows, one per filter."""
    by_filter = {r["filter"]: r for r in rows}
    strict = by_filter[GSM8K_FILTERS["strict_match"]]
    answer = strict["filtered_resps"][0]
    scores = {name: float(by_filter[f]["exact_match"]) for name, f in GSM8K_FILTERS.items()}
    return Decision(scores, None if answer == "[invalid]" else answer, prompt=_arguments(strict)[0]["arg_0"],
                    output=strict["resps"][0][0])  # fmt: skip


def lm_eval_wikitext(row: dict) -> Decision:
    loglikelihood, words = row["word_perplexity"]
    scores = {"loglikelihood": float(loglikelihood), "words": float(words), "bytes": float(row["byte_perplexity"][1])}
    return Decision(scores, None, prompt=_arguments(row)[0]["arg_0"])


def lm_eval_decisions(folder: Path, benchmark: str, subjects: list[str]) -> dict[str, Decision]:
    """Item key -> decision; keys are the document's position (MMLU: ``subject/position``)."""
    if benchmark == "mmlu":
        return {f"{s}/{r['doc_id']}": lm_eval_choice(r, CHOICE_METRICS["mmlu"])
                for s in subjects for r in _rows(samples_file(folder, f"mmlu_{s}"))}  # fmt: skip
    rows = _rows(samples_file(folder, benchmark))
    if benchmark == "gsm8k":
        docs: dict[int, list[dict]] = {}
        for row in rows:
            docs.setdefault(row["doc_id"], []).append(row)
        return {str(doc): lm_eval_gsm8k(group) for doc, group in docs.items()}
    if benchmark == "wikitext":
        return {str(r["doc_id"]): lm_eval_wikitext(r) for r in rows}
    return {str(r["doc_id"]): lm_eval_choice(r, CHOICE_METRICS[benchmark]) for r in rows}


def quantgate_decisions(items_file: Path, benchmark: str) -> dict[str, Decision]:
    """Item key -> decision from quantgate's per-item file. MMLU ids are ``subject/index`` with the
    index in the ``all`` split; the key is the position within the subject, as lm-eval counts."""
    rows = _rows(items_file)
    keep = {"gsm8k": tuple(GSM8K_FILTERS), "wikitext": ("loglikelihood", "words", "bytes")}.get(
        benchmark, CHOICE_METRICS.get(benchmark, ())
    )
    found = {}
    positions: dict[str, int] = {}
    for row in sorted(rows, key=_index_order):
        key = row["id"]
        if benchmark == "mmlu":
            subject = row["group"]
            key = f"{subject}/{positions.setdefault(subject, 0)}"
            positions[subject] += 1
        scores = {m: float(row["scores"][m]) for m in keep if m in row["scores"]}
        answer = None if benchmark == "wikitext" else row.get("extracted")
        output = row.get("output") if benchmark == "gsm8k" else None
        found[key] = Decision(scores, answer, prompt=row.get("prompt"), output=output)
    return found


def _index_order(row: dict) -> tuple[str, int]:
    group, _, index = str(row["id"]).rpartition("/")
    return (group, int(index)) if index.isdigit() else (group, 0)


def same_decision(benchmark: str, a: Decision, b: Decision) -> bool:
    if benchmark == "wikitext":
        x, y = a.scores["loglikelihood"], b.scores["loglikelihood"]
        return a.scores.get("words") == b.scores.get("words") and abs(x - y) <= RELATIVE * abs(x)
    shared = a.scores.keys() & b.scores.keys()
    return bool(shared) and all(a.scores[m] == b.scores[m] for m in shared) and a.answer == b.answer


def score(benchmark: str, decisions: dict[str, Decision]) -> float | None:
    """The benchmark's primary score over these items (WikiText: word perplexity)."""
    if not decisions:
        return None
    if benchmark == "wikitext":
        ll = math.fsum(d.scores["loglikelihood"] for d in decisions.values())
        return math.exp(-ll / math.fsum(d.scores["words"] for d in decisions.values()))
    values = [d.scores[PRIMARY[benchmark]] for d in decisions.values()]
    return sum(values) / len(values)


def compare(benchmark: str, theirs: dict[str, Decision], ours: dict[str, Decision]) -> dict:
    """lm-eval's decisions against quantgate's, item by item (an item only one side has differs)."""
    keys = sorted(theirs.keys() | ours.keys())
    both = [k for k in keys if k in theirs and k in ours]
    identical = sum(same_decision(benchmark, theirs[k], ours[k]) for k in both)
    row = {
        "items": len(keys),
        "lm_eval_items": len(theirs),
        "quantgate_items": len(ours),
        "identical": identical,
        "agreement": round(identical / len(keys), 4) if keys else None,
        "identical_prompts": sum(theirs[k].prompt == ours[k].prompt for k in both),
        "lm_eval_score": score(benchmark, theirs),
        "quantgate_score": score(benchmark, ours),
        "differing": [k for k in keys if k not in both or not same_decision(benchmark, theirs[k], ours[k])][:20],
    }
    if benchmark == "gsm8k":
        row["identical_generations"] = sum(theirs[k].output == ours[k].output for k in both)
    if benchmark == "wikitext" and both:
        row["max_relative_difference"] = max(
            abs(theirs[k].scores["loglikelihood"] - ours[k].scores["loglikelihood"])
            / abs(theirs[k].scores["loglikelihood"])
            for k in both
        )
    return row


def overall(rows: dict[str, dict]) -> dict:
    items = sum(r["items"] for r in rows.values())
    identical = sum(r["identical"] for r in rows.values())
    return {"items": items, "identical": identical, "agreement": round(identical / items, 4) if items else None}
