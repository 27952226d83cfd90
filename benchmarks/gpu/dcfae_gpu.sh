#!/usr/bin/env bash
# Paper-scale DCFAE on one lent GPU: the `paper` preset (spec 000: width 1 = 24.9M parameters, batch 256,
# DeepDenseNet 2048-512-512, Adam 1e-4, 100 pretraining + 100 fine-tuning epochs) and `paper-repaired`
# (the same, t-SNE target P with perplexity 10, DeepDenseNet dropout and L2 off; issue #15), seed 0.
# One pretraining per dataset, two fine-tunings branched from it (benchmarks/dcfae_repair.py), so a
# dataset costs 300 epochs of training: USPS (9,298 images) first, then MNIST-test (10,000) with the time left.
# Each variant's result JSON is written as soon as it is done, so a run cut by the time limit keeps them.
#
# Usage (repository root; results under $OUT, default ./gpu-out):
#   bash benchmarks/gpu/dcfae_gpu.sh            # on the GPU, <= ~9.5 min of wall time in all
#   bash benchmarks/gpu/dcfae_gpu.sh --tiny     # the same code path on CPU with a tiny budget (checks it runs)
# Budget estimate (benchmarks/results/dcfae/throughput-cpu.json): 4.2 GFLOP per image and training step at
# paper width -> 9,298 x 300 x 4.2e9 = 1.2e16 FLOP for USPS, about 2-4 min at 50-100 TFLOP/s (bf16 autocast,
# the engine's default on GPUs). DATASETS / TIME_LIMIT_S / EXTRA can be set in the environment.
set -u
cd "$(dirname "$0")/../.."
OUT="${OUT:-$PWD/gpu-out}"
mkdir -p "$OUT"
PY="${PYTHON:-python}"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
TIME_LIMIT_S="${TIME_LIMIT_S:-560}"   # whole script; the device tool allows 600 s per command
DATASETS="${DATASETS:-usps mnist-test}"
ARGS=(--seeds 0 --variants paper paper-repaired --monitor-every 10 --out "$OUT/results" --workdir "$OUT/work")
if [[ "${1:-}" == "--tiny" ]]; then
    # CPU smoke of the same script: 256 images, 1 + 1 epochs, 1/8 width; checks every step and the output files
    ARGS+=(--device cpu --subset 256 --set pretrain_epochs=1 --set finetune_epochs=1 --set width=0.125
           --set "dense_hidden=(128,64,64)" --tag-suffix tiny)
    TIME_LIMIT_S="${TIME_LIMIT_S_TINY:-900}"
else
    ARGS+=(--device cuda --threads 8)
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>&1 || true
fi
"$PY" -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available())" \
    | tee "$OUT/versions.txt"
# preflight (seconds): every dataset must load before the GPU time is spent. The data (usps.h5, MNIST's
# t10k files; 4.4 MB) is found in ./shared/data (the device tool copies shared/ when the checkout has one,
# e.g. `mkdir -p shared && cp -r /work/shared/data shared/`) or in $DEEPCLUST_DATA.
for ds in $DATASETS; do
    "$PY" -c "from deepclust.datasets import load_dataset as l; d = l('$ds', resize=32); print('$ds', d.X.shape)" \
        2>&1 | tail -3 | tee -a "$OUT/log.txt"
    [[ ${PIPESTATUS[0]} == 0 ]] || { echo "dataset $ds not found: see the comment above" | tee -a "$OUT/log.txt"; exit 2; }
done
start=$(date +%s)
for ds in $DATASETS; do
    left=$(( TIME_LIMIT_S - ($(date +%s) - start) ))
    if (( left < 60 )); then echo "skipping $ds: only ${left}s left" | tee -a "$OUT/log.txt"; continue; fi
    echo "== $ds (${left}s left)" | tee -a "$OUT/log.txt"
    timeout --signal=INT "$left" "$PY" benchmarks/dcfae_repair.py --dataset "$ds" "${ARGS[@]}" ${EXTRA:-} 2>&1 \
        | tee -a "$OUT/log.txt"
    echo "rc=${PIPESTATUS[0]} after $(( $(date +%s) - start ))s" | tee -a "$OUT/log.txt"
done
rm -rf "$OUT/work"
ls -R "$OUT/results" 2>/dev/null | tee -a "$OUT/log.txt"
