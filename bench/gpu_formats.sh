#!/usr/bin/env bash
# Every quantized format of the embedded family on a GPU (docs/gpu.md, "Formats"): the checkpoints
# built there by llm-compressor (calibration on the GPU), then the family's vLLM variants gated
# against the GPU BF16 of the same session, batch-invariant.
#
#   bash bench/gpu_formats.sh build                # after the bundle's install.sh
#   bash bench/gpu_formats.sh test "<pytest -k expression>"
#   bash bench/gpu_formats.sh standins             # the kernel rows (bench/kernel_standins.py)
#
# llm-compressor needs compressed-tensors 0.19.0 and vLLM 0.26.0 runs 0.17.0: the build step alone
# sees the newer one (carried as .device/lc/*.whl, installed into /tmp/lc).
set -uo pipefail
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 VLLM_BATCH_INVARIANT=1
CACHE=${CACHE:-/tmp/qgcache}
OUT=${OUT:-/tmp/qg-out}
mkdir -p "$OUT"
case "$1" in
build)
    mkdir -p /tmp/lc && python3 -m pip install -q --no-index --no-deps --target /tmp/lc .device/lc/*.whl
    start=$(date +%s)
    PYTHONPATH=/tmp/lc:$PYTHONPATH python3 -m quantgate.cli.build_embedded --all --cache-dir "$CACHE" \
        > "$OUT/build.log" 2>&1
    status=$?
    echo "build exit $status in $(( $(date +%s) - start )) s"
    grep -a "^smollm2\|Error" "$OUT/build.log" | tail -n 20
    exit $status
    ;;
standins)
    mkdir -p /tmp/lc && python3 -m pip install -q --no-index --no-deps --target /tmp/lc .device/lc/*.whl
    PYTHONPATH=/tmp/lc:$PYTHONPATH python3 bench/kernel_standins.py --work /tmp/standins > "$OUT/standins-build.log" 2>&1 \
        || { tail -n 30 "$OUT/standins-build.log"; exit 1; }
    grep -a "^[a-z0-9-]*: /tmp" "$OUT/standins-build.log"
    python3 -m pytest -p quantgate.plugin tests/test_accuracy.py --catalogue /tmp/standins/catalogue.yaml \
        -o addopts="" -p no:cacheprovider --cache-dir "$CACHE" --baselines-dir /tmp/qg-standin-baselines \
        --record-missing-baselines --report-dir "$OUT/standin-reports" -q 2>&1 | tail -n 40
    ;;
test)
    python3 -m pytest -p quantgate.plugin tests/test_accuracy.py -k "$2" -o addopts="" -p no:cacheprovider \
        --cache-dir "$CACHE" --baselines-dir /tmp/qg-baselines --record-missing-baselines \
        --report-dir "$OUT/reports" --junit-xml "$OUT/reports/junit.xml" -q 2>&1 | tail -n 60
    ;;
esac
