"""Chat-template prompts, laid out as lm-evaluation-harness's ``--apply_chat_template`` does.

The description becomes the system message; the few-shot examples and the question are joined
into one user message; the template adds the assistant's generation prompt. Template options such
as Qwen3's ``enable_thinking`` are passed through. The rendered text is what the prompt hashes
cover, so a change of template or switch refuses old baselines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class ChatTokenizer(Protocol):
    def apply_chat_template(self, conversation: list[dict[str, str]], **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class ChatFormat:
    """A tokenizer's chat template with fixed options."""

    tokenizer: ChatTokenizer
    options: dict[str, Any] = field(default_factory=dict)
    """Template variables, e.g. ``{"enable_thinking": False}``."""

    def render(self, system: str, user: str) -> str:
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **self.options)
        return str(text)


def load_chat_format(
    source: str, *, revision: str | None, trust_remote_code: bool, options: dict[str, Any]
) -> ChatFormat:
    """The chat format of the tokenizer at ``source`` (a hub id or a local directory)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source, revision=revision, trust_remote_code=trust_remote_code)
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"{source} has no chat template")
    return ChatFormat(tokenizer, options)
