#!/usr/bin/env bash
# The embedded family on the GPU machine (vLLM 0.26.0 carried as in ../shared/device/README.md):
# BF16 and vLLM's engine-side FP8 variant. Run from the checkout root after the bundle's install.sh.
#   1. at the catalogue's CPU limits, gated against the baselines recorded on the CPU (baselines/);
#   2. on the whole packaged datasets, BF16 recording GPU baselines and FP8 gated against them.
# Results land in $OUT (results JSON and self-contained HTML reports).
set -uo pipefail
OUT=${OUT:-/tmp/qg-out}
mkdir -p "$OUT"
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 QUANTGATE_CACHE=/root/qg-cache
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
python3 -c "import vllm, torch, transformers; print('vllm', vllm.__version__, 'torch', torch.__version__, 'transformers', transformers.__version__)"
python3 -m quantgate.cli.build_embedded --only smollm2-135m-bf16 || exit 1
select="smollm2-135m and (bf16 or fp8-engine)"
run() {  # name, extra pytest args...
    local name=$1; shift
    python3 -m pytest tests/test_accuracy.py -p no:cacheprovider -k "$select" --report-dir "/tmp/$name" \
        --html "$OUT/$name.html" --self-contained-html "$@"
    cp "/tmp/$name/results.json" "$OUT/$name.json"
}
run cpu-limits
run full --limit 100000 --update-baselines --baselines-dir /tmp/gpu-baselines
