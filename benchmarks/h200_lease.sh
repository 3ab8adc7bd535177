#!/usr/bin/env bash
# The GPU figures of docs/PERFORMANCE.md (issues 14, 15, 16) in one lease of a 2 x H200 machine (kind
# nvidia-h200-x2), each stage detached so that the work outlives one device call:
#   bash benchmarks/h200_lease.sh launch     install the wheels (.whl, carried), start the main run on GPU 0 and
#                                            the queue of side measurements on GPU 1, print the first status
#   bash benchmarks/h200_lease.sh status     what each stage has done so far; results into $OUT
#   bash benchmarks/h200_lease.sh collect    wait (up to WAIT s) for both queues, then every result into $OUT
# GPU 0: the full joint-TTT recipe (+experiment=joint_h200) from random initialisation: training for
#   module.optim.budget_minutes, then rails + decoding over all 400 ARC-AGI-1 and 120 ARC-AGI-2 evaluation tasks.
# First, with both GPUs free: training speed on 1 GPU vs 2 GPUs (DDP), side by side.
# GPU 1: training speed (eager vs compiled), the search engine over ARC-AGI-1 eval / ARC-AGI-2 eval / ARC-AGI-1
#   train and its throughput against the old engine, the three TTT modes side by side on one small budget (run
#   concurrently, sharing the GPU alike), the GPU tests, the determinism check.
set -uo pipefail
OUT=${OUT:-/tmp/h200_out}
R=${RUNS:-/root/runs}                 # the device's disk: kept while the machine is held
mkdir -p "$OUT" "$R"
export PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
if [ -d .whl ] && [ ! -d /tmp/site ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl 2>&1 | tail -2
fi
export PYTHONPATH=/tmp/site:$PWD
PY=${PY:-python3}
MAIN_BUDGET=${MAIN_BUDGET:-13}        # minutes of training in the main run
SMALL_BUDGET=${SMALL_BUDGET:-3}       # minutes of training of each TTT-mode run (three share GPU 1)

step() {  # step <name> <timeout_s> <command...>: run, log to $R/<name>.log, note rc and seconds
  local name=$1 limit=$2; shift 2
  local t0=$(date +%s)
  echo "start $name $(date +%T)" >> "$R/progress.txt"
  timeout "$limit" "$@" > "$R/$name.log" 2>&1
  echo "done $name rc=$? $(( $(date +%s) - t0 ))s $(date +%T)" >> "$R/progress.txt"
}

main_run() {
  CUDA_VISIBLE_DEVICES=0 step main 1700 $PY train.py +experiment=joint_h200 logger=csv \
    module.optim.budget_minutes=$MAIN_BUDGET hydra.run.dir=$R/main
  $PY scripts/rank_ablation.py $R/main --json $R/main/rank_ablation.json > $R/rank_ablation.log 2>&1
  touch "$R/main.finished"
}

ttt_mode() {  # ttt_mode <mode> <sources>: the network alone, on the small budget
  CUDA_VISIBLE_DEVICES=1 step ttt_$1 1200 $PY train.py +experiment=joint_h200 ttt_mode=$1 logger=csv \
    module.optim.budget_minutes=$SMALL_BUDGET "module.eval.sources=[$2]" module.eval.n_augment=8 model.ebr.views=0 \
    hydra.run.dir=$R/ttt_$1
}

side_queue() {
  export CUDA_VISIBLE_DEVICES=1
  step speed 400 $PY benchmarks/seq_train_speed.py --steps 30 --warmup 8 --batch 32 --variants eager compiled \
    model=seq_75m
  step rails_arc1_eval 300 $PY scripts/eval_rails.py --version arc1 --split eval --device cuda \
    --out $R/rails_arc1_eval.jsonl rail=gpu
  step rails_arc2_eval 300 $PY scripts/eval_rails.py --version arc2 --split eval --device cuda \
    --out $R/rails_arc2_eval.jsonl rail=gpu
  step rails_arc1_train 300 $PY scripts/eval_rails.py --version arc1 --split train --device cuda \
    --out $R/rails_arc1_train.jsonl rail=gpu
  step search_speed 300 $PY benchmarks/search_speed.py --device cuda --version arc1 --split eval --limit 100 rail=gpu
  ttt_mode none sequence & ttt_mode per_task sequence_rows & ttt_mode joint sequence & wait
  step gpu_tests 300 $PY -m pytest -q -p no:cacheprovider tests/gpu
  step search_deep 300 $PY scripts/eval_rails.py --version arc1 --split eval --device cuda \
    --out $R/search_deep.jsonl rail=gpu_deep
  step determinism 400 $PY scripts/check_determinism.py +experiment=gpu trainer.max_epochs=1 \
    +trainer.limit_train_batches=50 data.test.limit=10 logger=csv
  touch "$R/side.finished"
}

status() {
  nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader
  cat "$R/progress.txt" 2>/dev/null
  for f in "$R"/main.log "$R"/speed.log "$R"/ttt_joint.log; do
    [ -f "$f" ] && { echo "== $f"; tr '\r' '\n' < "$f" | grep -v "Warning\|warn(" | tail -n 4; }
  done
  find "$R" -name metrics.csv -path "*main*" -exec tail -n 3 {} \; 2>/dev/null
  pack
}

pack() {  # the small results into $OUT (the reply carries at most 8 files)
  (cd "$R" && tar czf "$OUT/results.tgz" --exclude='*.ckpt' --exclude='*.pt' --exclude='wandb' \
     $(ls -d main ttt_* *.log *.jsonl progress.txt 2>/dev/null) 2>/dev/null)
  cp docs/PERFORMANCE.md "$OUT/PERFORMANCE.md" 2>/dev/null
}

case "${1:-status}" in
launch)
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  rm -rf "$R" && mkdir -p "$R"
  step ddp 300 $PY benchmarks/seq_train_speed.py --steps 20 --warmup 5 --batch 32 --variants eager --ddp \
    model=seq_75m
  tail -n 12 "$R/ddp.log"
  setsid nohup bash -c "$(declare -f step main_run); R=$R PY=$PY MAIN_BUDGET=$MAIN_BUDGET; main_run" \
    > "$R/main_queue.out" 2>&1 < /dev/null &
  setsid nohup bash -c "$(declare -f step ttt_mode side_queue); R=$R PY=$PY SMALL_BUDGET=$SMALL_BUDGET; side_queue" \
    > "$R/side_queue.out" 2>&1 < /dev/null &
  sleep "${WAIT:-120}"
  status ;;
status)
  sleep "${WAIT:-0}"
  status ;;
collect)
  end=$(( $(date +%s) + ${WAIT:-540} ))
  while { [ ! -f "$R/main.finished" ] || [ ! -f "$R/side.finished" ]; } && [ "$(date +%s)" -lt "$end" ]; do
    sleep 5
  done
  status ;;
esac
