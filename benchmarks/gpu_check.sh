#!/usr/bin/env bash
# GPU check of the training paths: single GPU bf16 and fp16, DDP (more than one GPU), FSDP2 and DeepSpeed ZeRO-2
# (when deepspeed is installed), each with LoRA on a BERT-base-size random encoder and on MiniLM; prints one table
# of samples/s at 128 tokens and peak GPU memory. About 20 training runs of 20 steps: well under 10 minutes on one
# GPU. Without a GPU it says so and exits 0.
#   bash benchmarks/gpu_check.sh                 # results in ${OUT:-runs/gpu_check}
#   STEPS=50 BATCH=64 bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}
ACCELERATE=${ACCELERATE:-$(dirname "$(command -v "$PY")")/accelerate}
OUT=${OUT:-runs/gpu_check}
STEPS=${STEPS:-20}
BATCH=${BATCH:-32}
PER_RUN=${PER_RUN:-150}  # seconds before a hung run is stopped (its row is then missing, the rest go on)
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1

GPUS=$("$PY" -c "import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)")
if [ "$GPUS" -eq 0 ]; then
  echo "gpu_check needs a CUDA GPU (torch.cuda.is_available() is False here); nothing was run."
  exit 0
fi
BF16=$("$PY" -c "import torch; print('bf16' if torch.cuda.is_bf16_supported() else 'fp16')")
rm -f "$OUT/results.jsonl" "$OUT/skipped.jsonl"
"$PY" benchmarks/gpu_check.py prepare --out "$OUT"

run() {  # run MODEL MODE ACCELERATE_ARGS...
  local model=$1 mode=$2; shift 2
  echo "== $(basename "$model") $mode" >&2
  if ! timeout "$PER_RUN" "$ACCELERATE" launch --num_machines 1 --dynamo_backend no "$@" \
      benchmarks/gpu_check.py worker --out "$OUT" --model "$model" --mode "$mode" --steps "$STEPS" \
      --batch-size "$BATCH" > "$OUT/$(basename "$model")-$mode.log" 2>&1; then
    "$PY" benchmarks/gpu_check.py skip --out "$OUT" --model "$model" --mode "$mode" \
      --reason "failed, see $OUT/$(basename "$model")-$mode.log"
  fi
}

for model in "$OUT/bert-base" all-MiniLM-L6-v2; do
  run "$model" single-bf16 --config_file accelerate_configs/single_gpu.yaml --num_processes 1 --mixed_precision bf16
  run "$model" single-fp16 --config_file accelerate_configs/single_gpu.yaml --num_processes 1 --mixed_precision fp16
  if [ "$GPUS" -gt 1 ]; then
    run "$model" ddp --config_file accelerate_configs/multi_gpu.yaml --num_processes "$GPUS" --mixed_precision "$BF16"
  else
    "$PY" benchmarks/gpu_check.py skip --out "$OUT" --model "$model" --mode ddp --reason "needs more than 1 GPU"
  fi
  run "$model" fsdp2 --config_file accelerate_configs/fsdp.yaml --num_processes "$GPUS" --mixed_precision "$BF16"
  if "$PY" -c "import deepspeed" 2>/dev/null; then
    run "$model" deepspeed-zero2 --config_file accelerate_configs/deepspeed_zero2.yaml --num_processes "$GPUS" \
      --mixed_precision "$BF16"
  else
    echo "deepspeed-zero2: skipped: not installed" >&2
    "$PY" benchmarks/gpu_check.py skip --out "$OUT" --model "$model" --mode deepspeed-zero2 --reason "not installed"
  fi
done
"$PY" benchmarks/gpu_check.py table --out "$OUT"
