"""The embedded family's verdict does not depend on the CPU its baselines were recorded on.

``fixtures/evidence/amd-epyc-avx512`` holds the per-item scores of a full run of the family on an
AMD EPYC (shared/evidence/embedded-amd-epyc without the items' text); ``baselines/smollm2-135m``
was recorded on an Intel Xeon. On the AMD machine BF16 does not reproduce the Intel baselines, and
gated against them INT8 failed MMLU 5-shot and SIQA. Gated as the plugin gates them now (against
the reference of the same run, the stored baseline as the drift record, at the catalogue's
margins), the verdict is the same whether the baselines came from the Intel or the AMD machine.
"""

import json
from pathlib import Path

import pytest

from quantgate.baselines.reference import from_baseline, from_run, gate_against
from quantgate.baselines.store import Baseline, baseline_from_result, read_baseline
from quantgate.benchmarks import get_benchmark
from quantgate.catalogue.loader import load_catalogue
from quantgate.records import ItemResult, TaskResult

REPO = Path(__file__).parents[2]
EVIDENCE = REPO / "fixtures" / "evidence"
# Each evidence folder's device name, as quantgate names it (it selects waivers limited to devices).
MACHINES = {"amd-epyc-avx512": "AMD EPYC (avx512_bf16 avx512_vnni avx512f avx2)", "amd-epyc-avx2": "AMD EPYC (avx2)"}


# The variants the recorded runs hold; the family's later ones (FP8-static, the GGUF files) are not in them.
RECORDED = ("bf16", "int8-w8a8", "fp8-dynamic")


def cases_on(machine):
    catalogue = load_catalogue([REPO / "catalogue" / "smollm2-135m.yaml"], device=MACHINES[machine])
    return [c for c in catalogue.cases if c.variant.name in RECORDED]


CASES = cases_on("amd-epyc-avx512")


def items(test_id, machine="amd-epyc-avx512"):
    rows = (json.loads(line) for line in (EVIDENCE / machine / f"{test_id}.jsonl").read_text().splitlines())
    return {row["id"]: row for row in rows}


def amd_baseline(case, machine) -> Baseline:
    """What --update-baselines would have written on the AMD machine: its BF16 run."""
    rows = items(case.reference_id, machine)
    intel = read_baseline(REPO / "baselines" / "smollm2-135m" / f"{case.benchmark}.json").data
    score = get_benchmark(case.task).metric(intel.metric).value([r["scores"] for r in rows.values()])
    result = TaskResult(
        case.benchmark, case.task, intel.task_version, intel.metric,
        tuple(ItemResult(i, r["scores"], "", r["prompt_sha"], "", None, "") for i, r in rows.items()),
        intel.dataset.fingerprint, 0.0, metrics={intel.metric: score},
    )  # fmt: skip
    data = baseline_from_result("smollm2-135m", result, intel.dataset.origin, {"engine": {"device_name": "AMD EPYC"}})
    return Baseline(Path(f"amd/{case.benchmark}.json"), data)


def intel_baseline(case, reruns: bool) -> Baseline:
    baseline = read_baseline(REPO / "baselines" / "smollm2-135m" / f"{case.benchmark}.json")
    if reruns:
        return baseline
    items_only = {i: item.model_copy(update={"reruns": ()}) for i, item in baseline.data.items.items()}
    return Baseline(baseline.path, baseline.data.model_copy(update={"items": items_only, "reruns": ()}))


def decisions(baseline_of, machine="amd-epyc-avx512"):
    """Each test's (passed, lost, gained) as the plugin decides it on the AMD run."""
    out = {}
    for case in cases_on(machine):
        benchmark = get_benchmark(case.task)
        metric = benchmark.metric(case.spec.metric or benchmark.primary_metric)
        baseline = baseline_of(case)
        ours = {i: r["scores"] for i, r in items(case.id, machine).items()}
        if case.variant.is_reference:
            reference = from_baseline(baseline, same_environment=False)
        else:
            fresh = {i: r["scores"] for i, r in items(case.reference_id, machine).items()}
            reference = from_run(fresh, "session", baseline)
        gate, _ = gate_against(ours, reference, metric, case.spec.gate.rule(), label=case.id)
        out[case.id] = (gate.passed, gate.comparison.lost, gate.comparison.gained)
    return out


def clear(found, machine):
    """The release verdict: every test passes, except the waived ones, which must fail (strict xfail)."""
    waived = {c.id for c in cases_on(machine) if c.waiver}
    return all(passed != (test in waived) for test, (passed, *_) in found.items())


@pytest.fixture(scope="module", params=list(MACHINES))
def machine(request):
    return request.param


@pytest.fixture(scope="module")
def on_intel_baselines(machine):
    return decisions(lambda case: intel_baseline(case, reruns=True), machine)


def test_the_amd_run_was_blocked_against_intel_baselines_at_the_old_gate():
    """The evidence as it was: INT8 gated against the Intel baseline lost 12 of MMLU 5-shot's
    items and 8 of SIQA's (the run's summary.md shows both failing)."""
    ours = {i: r["scores"] for i, r in items("smollm2-135m-int8-w8a8-mmlu-5shot").items()}
    stored = intel_baseline(CASES[2], reruns=False).item_scores()
    lost = sum(1 for i in ours if stored[i]["acc"] == 1 and ours[i]["acc"] == 0)
    assert lost == 12


def test_the_verdict_is_clear_and_the_same_whether_baselines_were_recorded_on_intel_or_amd(machine, on_intel_baselines):
    on_amd = decisions(lambda case: amd_baseline(case, machine), machine)
    assert clear(on_intel_baselines, machine) and clear(on_amd, machine)
    variants = [c.id for c in CASES if not c.variant.is_reference]
    assert {t: on_intel_baselines[t][0] for t in variants} == {t: on_amd[t][0] for t in variants}


def test_the_verdict_does_not_need_the_recorded_reruns(machine, on_intel_baselines):
    """The Intel baselines carry the AMD runs as recorded noise; without them the verdict is the same."""
    without = decisions(lambda case: intel_baseline(case, reruns=False), machine)
    assert clear(without, machine)
    assert {t: v[0] for t, v in without.items()} == {t: v[0] for t, v in on_intel_baselines.items()}


def test_the_reference_drifts_from_intel_baselines_only_within_its_recorded_noise(machine, on_intel_baselines):
    """BF16 on AMD against the Intel baselines: without the recorded reruns its flips show as drift
    (on the AVX-512 machine 6 lost, 5 gained on MMLU 5-shot), with them none remain."""
    without = decisions(lambda case: intel_baseline(case, reruns=False), machine)
    lost, gained = without["smollm2-135m-bf16-mmlu-5shot"][1:]
    assert lost + gained > 0 and (machine != "amd-epyc-avx512" or (lost, gained) == (6, 5))
    references = [c.id for c in CASES if c.variant.is_reference and c.benchmark != "wikitext"]
    assert all(on_intel_baselines[t][1:] == (0, 0) for t in references)
