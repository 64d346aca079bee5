#!/usr/bin/env bash
# Batch-invariant mode on the GPU machine (vLLM carried as in ../shared/device/README.md), from the
# checkout root after the bundle's install.sh. Results and logs land in $OUT.
#
#   bash bench/batch_invariance.sh reruns 0|1   three reruns (max_num_seqs 256; 256 with the requests
#                                              shuffled, --request-order 1; 7) of SmolLM2 BF16, engine
#                                              FP8 and an initialized Qwen3-0.6B stand-in, with
#                                              VLLM_BATCH_INVARIANT=0|1; then their per-item flips
#   bash bench/batch_invariance.sh cost 0|1    the Qwen3-8B stand-in's GSM8K and MMLU 5-shot (BF16, eager)
set -uo pipefail
OUT=${OUT:-/tmp/qg-out}
mkdir -p "$OUT"
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 QUANTGATE_CACHE=/root/qg-cache
W=.device/work-bi

SELECT=${SELECT:-(smollm2-135m and (bf16 or fp8-engine) and not humaneval) or initialized-0.6b}
RUNS=${RUNS:-256 256:1 7}  # max_num_seqs[:request-order seed]
LIMIT=${LIMIT:-170}

reruns() {
    local mode=$1 runs=()
    python3 -m quantgate.cli.build_embedded --only smollm2-135m-bf16 > "$OUT/build.log" 2>&1 || { tail "$OUT/build.log"; exit 1; }
    [ -f "$W/seqs-7.yaml" ] || python3 bench/batch_invariance.py catalogues "$W" || exit 1
    local sel=$SELECT
    for spec in $RUNS; do
        local n=${spec%%:*} seed=${spec#*:} order=() name="bi$mode-seqs${spec/:/-order}" start=$(date +%s.%N)
        [ "$seed" != "$spec" ] && order=(--request-order "$seed")
        VLLM_BATCH_INVARIANT=$mode timeout -s INT -k 20 "$LIMIT" python3 -m pytest tests/test_accuracy.py -p no:cacheprovider \
            --no-cache "${order[@]}" --catalogue "$W/seqs-$n.yaml" --baselines-dir "$W/baselines-$name" --record-missing-baselines \
            --report-dir "$W/$name" -k "$sel" > "$OUT/$name.log" 2>&1
        echo "$name exit $? wall $(python3 -c "print(round($(date +%s.%N) - $start, 1))") s" | tee -a "$OUT/walls.txt"
        pkill -9 -f 'VLLM::' || true
        tail -4 "$OUT/$name.log"
        runs+=("$W/$name")
        tar czf "$OUT/$name.tgz" -C "$W" "$name"
    done
    python3 bench/batch_invariance.py compare "${runs[@]}" > "$OUT/reruns-$mode.json"
    python3 -c "import json; d = json.load(open('$OUT/reruns-$mode.json')); print({k: d[k] for k in ('items_with_score_changes', 'items_compared', 'decision_flips')})"
}

cost() {
    local mode=$1
    VLLM_BATCH_INVARIANT=$mode python3 bench/gpu_bench.py matrix --eager --out "$OUT/cost-$mode" --work "$W-cost" \
        -k "bf16 and (gsm8k or mmlu)" > "$OUT/cost-$mode.log" 2>&1
    echo "cost $mode exit $?"
    python3 -c "import json, glob; d = json.load(open(glob.glob('$OUT/cost-$mode/matrix-*.json')[0])); print(d['wall_s'], {t: (v['wall_s'], v['load_s']) for t, v in d['tests'].items()})"
}

"$@"
