#!/usr/bin/env bash
# Multi-GPU verification on a 2-GPU machine (vLLM carried as in ../shared/device/README.md), from
# the checkout root after the bundle's install.sh. Results and logs land in $OUT.
#
#   bash bench/multi_gpu.sh [all]        steps 1-3, then per-item comparison (bench/multi_gpu.py compare)
#   bash bench/multi_gpu.sh initialized  step 4 only
#
#   1. one GPU, no xdist: the embedded family's BF16 and engine FP8 and a Qwen3-0.6B stand-in
#      (BF16, engine FP8) record baselines and results;
#   2. `pytest -n 2 --dist loadgroup` over the same tests: each worker pins its GPU;
#   3. the stand-in at tensor_parallel_size 2 over both GPUs;
#   4. TP=1 against TP=2 on the stand-in with initialized weights, whose outputs vary from item to item.
set -uo pipefail
OUT=${OUT:-/tmp/qg-out}
mkdir -p "$OUT"
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 QUANTGATE_CACHE=/root/qg-cache
# NVLink multicast stays off on the lent machines (../shared/device KINDS.md); vLLM's workers inherit these.
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
W=.device/work

timed() {  # name, seconds allowed, pytest args...
    local name=$1 limit=$2; shift 2
    local start=$(date +%s.%N)
    # SIGINT lets pytest close its engines; anything of vLLM's still alive after that is killed
    timeout -s INT -k 20 "$limit" python3 -m pytest tests/test_accuracy.py -p no:cacheprovider --no-cache \
        --report-dir "$W/$name" --html "$OUT/$name.html" --self-contained-html "$@" > "$OUT/$name.log" 2>&1
    echo "$name exit $? wall $(python3 -c "print(round($(date +%s.%N) - $start, 1))") s" | tee -a "$OUT/walls.txt"
    pkill -9 -f 'VLLM::' || true
    tail -25 "$OUT/$name.log"
}

all() {
    nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv | tee "$OUT/gpus.csv"
    python3 -m quantgate.cli.build_embedded --only smollm2-135m-bf16 || exit 1
    python3 bench/multi_gpu.py catalogue "$W" || exit 1
    nvidia-smi --query-compute-apps=timestamp,pid,gpu_uuid,used_memory --format=csv -l 1 > "$OUT/gpu-processes.csv" &
    local smi=$!
    local common=(--catalogue catalogue/smollm2-135m.yaml --catalogue "$W/multi.yaml" --baselines-dir "$W/baselines")
    local sel="(smollm2-135m and (bf16 or fp8-engine) and not humaneval) or (standin-0.6b and not tp2)"
    CUDA_VISIBLE_DEVICES=0 timed one 260 "${common[@]}" -k "$sel" --record-missing-baselines
    timed two 160 "${common[@]}" -k "$sel" -n 2 --dist loadgroup
    NCCL_DEBUG=INFO timed tp2 150 "${common[@]}" -k "standin-0.6b and tp2"
    kill $smi
    python3 bench/multi_gpu.py compare "$W/one" "$W/two" "$W/tp2" | tee "$OUT/multi.json"
    tar czf "$OUT/runs.tgz" -C "$W" one two tp2
}

initialized() {
    python3 bench/multi_gpu.py initialized "$W" || exit 1
    local common=(--catalogue "$W/initialized.yaml" --baselines-dir "$W/baselines-initialized")
    CUDA_VISIBLE_DEVICES=0 timed init-tp1 200 "${common[@]}" -k "initialized and bf16" --record-missing-baselines
    timed init-tp2 200 "${common[@]}" -k "initialized and tp2"
    python3 bench/multi_gpu.py tp "$W/init-tp1" "$W/init-tp2" | tee "$OUT/tensor-parallel.json"
    tar czf "$OUT/initialized-runs.tgz" -C "$W" init-tp1 init-tp2
}

"${1:-all}"
