"""GPU assignment for pytest-xdist workers: a slice per worker, never a shared GPU."""

import os

import pytest

from quantgate.engines.gpus import GpuAssignmentError, check_fits, pin_worker, worker_index, worker_slice
from quantgate.errors import EngineLoadError


def test_one_worker_per_gpu_gets_its_own():
    assert [worker_slice(i, 2, ["0", "1"]) for i in range(2)] == [["0"], ["1"]]


def test_fewer_workers_than_gpus_get_contiguous_slices_for_tensor_parallel_variants():
    assert [worker_slice(i, 2, ["0", "1", "2", "3"]) for i in range(2)] == [["0", "1"], ["2", "3"]]
    assert [worker_slice(i, 2, ["0", "1", "2"]) for i in range(2)] == [["0"], ["1"]]  # the odd one idles


def test_slices_come_from_the_devices_the_user_made_visible():
    assert [worker_slice(i, 2, ["4", "6"]) for i in range(2)] == [["4"], ["6"]]


def test_more_workers_than_gpus_is_refused():
    with pytest.raises(GpuAssignmentError, match="3 xdist workers for 2 GPUs .*run with -n 2 or fewer"):
        worker_slice(0, 3, ["0", "1"])


def test_no_gpus_leaves_the_environment_alone(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert pin_worker("gw1", 2, []) == []
    assert "CUDA_VISIBLE_DEVICES" not in os.environ


def test_pin_worker_sets_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    assert pin_worker("gw1", 2, ["0", "1", "2", "3"]) == ["2", "3"]
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "2,3"


def test_worker_ids_are_parsed_strictly():
    assert worker_index("gw12") == 12
    with pytest.raises(ValueError, match="not a pytest-xdist worker id"):
        worker_index("master")


def test_a_tensor_parallel_variant_that_does_not_fit_is_refused_before_loading(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    with pytest.raises(EngineLoadError, match="fam-tp2 needs 2 GPUs .* sees 1 \\(CUDA_VISIBLE_DEVICES=1\\)"):
        check_fits("fam-tp2", {"tensor_parallel_size": 2}, 1)
    check_fits("fam-tp2", {"tensor_parallel_size": 2}, 2)
    check_fits("fam-tp2", {"tensor_parallel_size": 2}, 0)  # no GPU: vLLM-CPU decides
