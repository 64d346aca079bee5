#!/usr/bin/env bash
# Multi-GPU verification on a 2-GPU machine (vLLM carried as in ../shared/device/README.md), from
# the checkout root after the bundle's install.sh. Results and logs land in $OUT.
#   1. one GPU, no xdist: the embedded family's BF16 and engine FP8 and a Qwen3-0.6B stand-in
#      (BF16, engine FP8) record baselines and results;
#   2. `pytest -n 2 --dist loadgroup` over the same tests: each worker pins its GPU;
#   3. the stand-in at tensor_parallel_size 2 over both GPUs;
# then bench/multi_gpu.py compares per-item decisions and lists where each test ran.
set -uo pipefail
OUT=${OUT:-/tmp/qg-out}
mkdir -p "$OUT"
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 QUANTGATE_CACHE=/root/qg-cache
# NVLink multicast stays off on the lent machines (../shared/device KINDS.md); vLLM's workers inherit these.
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
W=.device/work
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv | tee "$OUT/gpus.csv"
python3 -m quantgate.embedded --only smollm2-135m-bf16 || exit 1
python3 bench/multi_gpu.py catalogue "$W" || exit 1
nvidia-smi --query-compute-apps=timestamp,pid,gpu_uuid,used_memory --format=csv -l 1 > "$OUT/gpu-processes.csv" &
SMI=$!
common=(tests/test_accuracy.py -p no:cacheprovider --catalogue catalogue/smollm2-135m.yaml --catalogue "$W/multi.yaml"
        --no-cache --baselines-dir "$W/baselines")
sel="(smollm2-135m and (bf16 or fp8-engine) and not humaneval) or (standin-0.6b and not tp2)"
timed() {  # name, seconds allowed, args...
    local name=$1 limit=$2; shift 2
    local start=$(date +%s.%N)
    # SIGINT lets pytest close its engines; anything of vLLM's still alive after that is killed
    timeout -s INT -k 20 "$limit" python3 -m pytest "${common[@]}" --report-dir "$W/$name" --html "$OUT/$name.html" --self-contained-html "$@" \
        > "$OUT/$name.log" 2>&1
    echo "$name exit $? wall $(python3 -c "print(round($(date +%s.%N) - $start, 1))") s" | tee -a "$OUT/walls.txt"
    pkill -9 -f 'VLLM::' || true
    tail -25 "$OUT/$name.log"
}
CUDA_VISIBLE_DEVICES=0 timed one 260 -k "$sel" --record-missing-baselines
timed two 160 -k "$sel" -n 2 --dist loadgroup
NCCL_DEBUG=INFO timed tp2 150 -k "standin-0.6b and tp2"
kill $SMI
python3 bench/multi_gpu.py compare "$W/one" "$W/two" "$W/tp2" | tee "$OUT/multi.json"
tar czf "$OUT/runs.tgz" -C "$W" one two tp2
