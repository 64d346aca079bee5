"""Synthetic items for every benchmark of a published family, at full size and in the hub schema
each quantgate benchmark reads, for timing the whole nightly on random-weight stand-ins.

Split sizes are the real ones (``SIZES``: each with where it comes from). Text is random common
words (Chinese words for C-Eval) at typical lengths; the lengths are approximate unless a source
is named beside them. Few-shot pools: GSM8K's train split, MMLU's and C-Eval's dev splits, BBH's
exemplars from lm-eval's own task files (real text: quantgate reads them there). With random
weights the answers are noise: the figures these items give are time and tokens.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from bench.standin import WORDS, _text, _write, arc, gsm8k, hellaswag, mmlu

# Per-subject test rows of cais/mmlu (its card's num_examples per configuration; the same table
# appears in public evaluation code); they sum to 14,042. Dev: 5 per subject.
MMLU_TEST = {
    "abstract_algebra": 100, "anatomy": 135, "astronomy": 152, "business_ethics": 100, "clinical_knowledge": 265,
    "college_biology": 144, "college_chemistry": 100, "college_computer_science": 100, "college_mathematics": 100,
    "college_medicine": 173, "college_physics": 102, "computer_security": 100, "conceptual_physics": 235,
    "econometrics": 114, "electrical_engineering": 145, "elementary_mathematics": 378, "formal_logic": 126,
    "global_facts": 100, "high_school_biology": 310, "high_school_chemistry": 203,
    "high_school_computer_science": 100, "high_school_european_history": 165, "high_school_geography": 198,
    "high_school_government_and_politics": 193, "high_school_macroeconomics": 390, "high_school_mathematics": 270,
    "high_school_microeconomics": 238, "high_school_physics": 151, "high_school_psychology": 545,
    "high_school_statistics": 216, "high_school_us_history": 204, "high_school_world_history": 237,
    "human_aging": 223, "human_sexuality": 131, "international_law": 121, "jurisprudence": 108,
    "logical_fallacies": 163, "machine_learning": 112, "management": 103, "marketing": 234, "medical_genetics": 100,
    "miscellaneous": 783, "moral_disputes": 346, "moral_scenarios": 895, "nutrition": 306, "philosophy": 311,
    "prehistory": 324, "professional_accounting": 282, "professional_law": 1534, "professional_medicine": 272,
    "professional_psychology": 612, "public_relations": 110, "security_studies": 245, "sociology": 201,
    "us_foreign_policy": 100, "virology": 166, "world_religions": 171,
}  # fmt: skip
# Per-subject val rows of ceval/ceval-exam (lm-eval's ceval-valid scores this split); they sum to
# 1,346. Checked against the hub card for accountant (49), computer_network (19),
# computer_architecture (21) and veterinary_medicine (23); the rest from a public table of the same.
CEVAL_VAL = {
    "accountant": 49, "advanced_mathematics": 19, "art_studies": 33, "basic_medicine": 19,
    "business_administration": 33, "chinese_language_and_literature": 23, "civil_servant": 47,
    "clinical_medicine": 22, "college_chemistry": 24, "college_economics": 55, "college_physics": 19,
    "college_programming": 37, "computer_architecture": 21, "computer_network": 19, "discrete_mathematics": 16,
    "education_science": 29, "electrical_engineer": 37, "environmental_impact_assessment_engineer": 31,
    "fire_engineer": 31, "high_school_biology": 19, "high_school_chemistry": 19, "high_school_chinese": 19,
    "high_school_geography": 19, "high_school_history": 20, "high_school_mathematics": 18,
    "high_school_physics": 19, "high_school_politics": 19, "ideological_and_moral_cultivation": 19, "law": 24,
    "legal_professional": 23, "logic": 22, "mao_zedong_thought": 24, "marxism": 19, "metrology_engineer": 24,
    "middle_school_biology": 21, "middle_school_chemistry": 20, "middle_school_geography": 12,
    "middle_school_history": 22, "middle_school_mathematics": 19, "middle_school_physics": 19,
    "middle_school_politics": 21, "modern_chinese_history": 23, "operating_system": 19, "physician": 49,
    "plant_protection": 22, "probability_and_statistics": 18, "professional_tour_guide": 29, "sports_science": 19,
    "tax_accountant": 49, "teacher_qualification": 44, "urban_and_rural_planner": 46, "veterinary_medicine": 23,
}  # fmt: skip
# BBH: 250 items per subtask but three (Suzgun et al. 2022; SaylorTwift/bbh), 6,511 in all.
BBH_SMALLER = {"causal_judgement": 187, "penguins_in_a_table": 146, "snarks": 178}

SIZES: dict[str, tuple[int, str]] = {
    "gsm8k": (1319, "openai/gsm8k card: test 1,319 (train 7,473, the few-shot pool)"),
    "mmlu": (14042, "cais/mmlu card: test 14,042 over 57 subjects (dev 285, 5 a subject)"),
    "ceval": (1346, "ceval/ceval-exam card: val 1,346 over 52 subjects (dev 260, 5 a subject)"),
    "humaneval": (164, "openai/openai_humaneval card: test 164"),
    "hellaswag": (10042, "Rowan/hellaswag card: validation 10,042"),
    "arc_easy": (2376, "allenai/ai2_arc card: ARC-Easy test 2,376"),
    "arc_challenge": (1172, "allenai/ai2_arc card: ARC-Challenge test 1,172"),
    "piqa": (1838, "PIQA card: validation 1,838"),
    "winogrande": (1267, "allenai/winogrande card: winogrande_xl validation 1,267"),
    "wikitext": (
        62,
        "EleutherAI/wikitext_document_level wikitext-2-raw-v1: test 62 pages, 245,569 tokens (Merity et al. 2016, Table 1)",
    ),
    "bbh": (6511, "Suzgun et al. 2022 / SaylorTwift/bbh: 27 subtasks, 6,511 items"),
    "drop": (9536, "DROP dev (TFDS catalogue, EleutherAI/drop validation): 9,536"),
    "aime2024": (30, "Maxwell-Jia/AIME_2024: 30 problems (AIME I and II, 2024)"),
    "ifeval": (541, "google/IFEval card: train 541"),
}
WIKITEXT_TEST_TOKENS = 245_569
# DROP: ~96k questions over ~6.7k passages (Dua et al. 2019): ~14 questions share a passage.
DROP_QUESTIONS_PER_PASSAGE = 14
# ucinlp/drop's card: validation 11,737,755 bytes over 9,535 rows, ~1,230 bytes a row, nearly all
# of it the passage: ~200 words.
DROP_PASSAGE_WORDS = 200

ZH_WORDS = (
    "中国", "经济", "发展", "社会", "问题", "企业", "政府", "学生", "教育", "技术", "市场", "管理", "国家", "历史",
    "文化", "法律", "工作", "生产", "方法", "系统", "研究", "计算", "数据", "时间", "人民", "地区", "环境", "能源",
    "医学", "会计", "税收", "资产", "规划", "城市", "农村", "的", "是", "在", "和", "了", "有", "不", "对", "下列",
    "关于", "正确", "说法", "主要", "影响", "原因", "作用", "基本", "理论", "实践",
)  # fmt: skip
# IFEval instructions whose checkers need no downloaded data (nltk's punkt_tab and langdetect are
# left out: a GPU machine without network has neither), with the arguments the hub records carry.
IFEVAL_INSTRUCTIONS: dict[str, dict[str, Any]] = {
    "punctuation:no_comma": {},
    "length_constraints:number_words": {"relation": "at least", "num_words": 300},
    "length_constraints:number_paragraphs": {"num_paragraphs": 3},
    "detectable_format:title": {},
    "detectable_format:number_bullet_lists": {"num_bullets": 4},
    "detectable_format:json_format": {},
    "detectable_format:number_highlighted_sections": {"num_highlights": 2},
    "detectable_format:multiple_sections": {"section_spliter": "SECTION", "num_sections": 3},
    "detectable_content:postscript": {"postscript_marker": "P.S."},
    "detectable_content:number_placeholders": {"num_placeholders": 2},
    "keywords:existence": {"keywords": ["history", "water"]},
    "keywords:frequency": {"keyword": "story", "frequency": 3, "relation": "at least"},
    "keywords:forbidden_words": {"forbidden_words": ["money", "car"]},
    "keywords:letter_frequency": {"letter": "a", "let_frequency": 5, "let_relation": "at least"},
    "startend:end_checker": {"end_phrase": "Is there anything else I can help with?"},
    "startend:quotation": {},
}
IFEVAL_KWARGS = (
    "num_highlights", "relation", "num_words", "num_placeholders", "prompt_to_repeat", "num_paragraphs", "keywords",
    "forbidden_words", "letter", "let_frequency", "let_relation", "keyword", "frequency", "num_bullets", "end_phrase",
    "postscript_marker", "section_spliter", "num_sections", "capital_frequency", "capital_relation", "language",
    "first_word", "nth_paragraph", "num_sentences",
)  # fmt: skip


def _zh(rng: random.Random, words: int) -> str:
    return "".join(rng.choice(ZH_WORDS) for _ in range(max(1, int(rng.gauss(words, words / 4)))))


def ceval(rng: random.Random, subject: str, index: int) -> dict:
    # ~400 bytes a row in accountant's val split (19,549 bytes / 49 rows): ~130 characters in all.
    return {"id": index, "question": _zh(rng, 30) + "（ ）", **{letter: _zh(rng, 6) for letter in "ABCD"},
            "answer": rng.choice("ABCD"), "explanation": "", "subject": subject}  # fmt: skip


def humaneval(rng: random.Random, index: int) -> dict:
    """A signature, a docstring with two examples and a check() of seven asserts (about the real
    prompt's ~130 tokens and test's ~150: approximate)."""
    name = f"func_{index}"
    prompt = (f"from typing import List\n\n\ndef {name}(numbers: List[int], k: int) -> int:\n"
              f'    """ {_text(rng, 45)}.\n    >>> {name}([1, 2, 3], 2)\n    5\n    >>> {name}([], 0)\n    0\n    """\n')  # fmt: skip
    asserts = "".join(f"    assert candidate([{rng.randint(0, 9)}, {rng.randint(0, 9)}], {rng.randint(0, 5)}) == {rng.randint(0, 20)}\n" for _ in range(7))  # fmt: skip
    return {"task_id": f"HumanEval/{index}", "prompt": prompt, "canonical_solution": "    return sum(numbers[:k])\n",
            "test": f"\n\nMETADATA = {{}}\n\n\ndef check(candidate):\n{asserts}", "entry_point": name}  # fmt: skip


def piqa(rng: random.Random) -> dict:
    return {"goal": _text(rng, 8) + "?", "sol1": _text(rng, 20) + ".", "sol2": _text(rng, 20) + ".", "label": rng.randrange(2)}  # fmt: skip


def winogrande(rng: random.Random) -> dict:
    return {"sentence": f"{_text(rng, 10)} _ {_text(rng, 10)}.", "option1": rng.choice(WORDS),
            "option2": rng.choice(WORDS), "answer": rng.choice("12")}  # fmt: skip


def wikitext_pages(rng: random.Random, pages: int, tokens: int) -> list[dict]:
    """Pages in WikiText's raw layout (`` = Title = `` headings, space-separated punctuation),
    lengths drawn log-normally and scaled to ``tokens`` whitespace tokens in all."""
    weights = [rng.lognormvariate(0, 0.7) for _ in range(pages)]
    lengths = [max(50, round(tokens * w / sum(weights))) for w in weights]
    out = []
    for length in lengths:
        words = [rng.choice(WORDS) for _ in range(length)]
        for i in range(12, length, 12):  # a comma or a full stop about every 12 tokens, as separate tokens
            words[i] = rng.choice((",", "."))
        text, paragraphs = " ".join(words), []
        for start in range(0, len(text), 2400):
            paragraphs.append(" " + text[start : start + 2400].strip() + " \n")
        out.append({"page": f" = {_text(rng, 3).title()} = \n \n" + " \n".join(paragraphs)})
    return out


def bbh_items(rng: random.Random) -> list[dict]:
    """Each subtask's items at its real count, inputs as long as its three lm-eval exemplars on
    average, targets drawn from the exemplars' answers."""
    from quantgate.benchmarks.bbh import SUBTASKS
    from quantgate.benchmarks.lm_eval_parts import bbh_fewshot

    out = []
    for subtask in SUBTASKS:
        shots = bbh_fewshot(subtask)["samples"]
        words = sum(len(s["input"].split()) for s in shots) / len(shots)
        answers = [s["target"].rsplit("the answer is ", 1)[-1].rstrip(".") for s in shots]
        out += [{"input": _text(rng, round(words)), "target": rng.choice(answers), "subtask": subtask}
                for _ in range(BBH_SMALLER.get(subtask, 250))]  # fmt: skip
    return out


def drop_items(rng: random.Random, n: int) -> list[dict]:
    out: list[dict] = []
    passage = ""
    for i in range(n):
        if i % DROP_QUESTIONS_PER_PASSAGE == 0:
            passage = _text(rng, DROP_PASSAGE_WORDS) + "."
        # About a third of DROP's answers are spans, the rest numbers (and a few dates).
        spans = [_text(rng, 2)] if rng.random() < 0.35 else []
        number = "" if spans else str(rng.randint(1, 99))
        answer = {"number": number, "date": {"day": "", "month": "", "year": ""}, "spans": spans}
        out.append({"section_id": f"s{i // DROP_QUESTIONS_PER_PASSAGE}", "query_id": f"q{i}", "passage": passage,
                    "question": _text(rng, 11) + "?", "answer": answer,
                    "validated_answers": {"number": [number], "date": [answer["date"]], "spans": [spans]}})  # fmt: skip
    return out


def aime(rng: random.Random, index: int) -> dict:
    # ~70 words with a formula (AIME 2024 problems run 40-120 words: approximate).
    problem = f"{_text(rng, 60)} $x^2 + {rng.randint(2, 9)}y = {rng.randint(10, 99)}$ {_text(rng, 10)}?"
    return {"ID": f"2024-{'I' if index < 15 else 'II'}-{index % 15 + 1}", "Problem": problem,
            "Solution": _text(rng, 200), "Answer": rng.randint(0, 999)}  # fmt: skip


def ifeval(rng: random.Random, key: int) -> dict:
    """A ~40-word request with one to three of ``IFEVAL_INSTRUCTIONS`` (approximate)."""
    ids = rng.sample(sorted(IFEVAL_INSTRUCTIONS), rng.choice((1, 1, 2, 2, 3)))
    kwargs = [{field: IFEVAL_INSTRUCTIONS[i].get(field) for field in IFEVAL_KWARGS} for i in ids]
    prompt = f"Write {_text(rng, 35)}. " + " ".join(f"{i.split(':')[1].replace('_', ' ')}." for i in ids)
    return {"key": 1000 + key, "prompt": prompt, "instruction_id_list": ids, "kwargs": kwargs}


def records(name: str, rng: random.Random) -> tuple[list[dict], list[dict]]:
    """The scored split and the few-shot pool (empty where the benchmark draws none from the data)."""
    if name == "gsm8k":
        return [gsm8k(rng, i) for i in range(1319)], [gsm8k(rng, i) for i in range(7473)]
    if name == "mmlu":
        test = [mmlu(rng, s) for s, n in MMLU_TEST.items() for _ in range(n)]
        return test, [mmlu(rng, s) for s in MMLU_TEST for _ in range(5)]
    if name == "ceval":
        test = [ceval(rng, s, i) for s, n in CEVAL_VAL.items() for i in range(n)]
        return test, [ceval(rng, s, i) for s in CEVAL_VAL for i in range(5)]
    if name == "humaneval":
        return [humaneval(rng, i) for i in range(164)], []
    if name == "hellaswag":
        return [hellaswag(rng, i) for i in range(10042)], []
    if name in ("arc_easy", "arc_challenge"):
        return [arc(rng, i) for i in range(SIZES[name][0])], []
    if name == "piqa":
        return [piqa(rng) for _ in range(1838)], []
    if name == "winogrande":
        return [winogrande(rng) for _ in range(1267)], []
    if name == "wikitext":
        return wikitext_pages(rng, 62, WIKITEXT_TEST_TOKENS), []
    if name == "bbh":
        return bbh_items(rng), []
    if name == "drop":
        return drop_items(rng, 9536), []
    if name == "aime2024":
        return [aime(rng, i) for i in range(30)], []
    if name == "ifeval":
        return [ifeval(rng, i) for i in range(541)], []
    raise KeyError(f"no synthetic items for {name!r}; known: {', '.join(SIZES)}")


def build(out: Path, names: list[str] | None = None, seed: int = 0) -> dict[str, dict[str, str]]:
    """Write each benchmark's records as JSON lines under ``out``; returns name -> {test[, fewshot]}
    paths for a catalogue's ``source: {files: ...}``. Each benchmark draws from its own seeded
    generator, so one benchmark's items do not depend on which others are built."""
    paths: dict[str, dict[str, str]] = {}
    for name in names or list(SIZES):
        rng = random.Random(f"{seed}:{name}")
        test, pool = records(name, rng)
        paths[name] = {"test": _write(out / name / "test.jsonl", test)}
        if pool:
            paths[name]["fewshot"] = _write(out / name / "fewshot.jsonl", pool)
    (out / "sources.json").write_text(json.dumps({n: SIZES[n][1] for n in paths}, indent=1))
    return paths
