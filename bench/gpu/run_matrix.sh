#!/usr/bin/env bash
# The me5-small matrix on one GPU, within a time budget: every cell of me5_small_gpu.toml (three
# seeds), then, while time is left, the two SST-2 size sweeps. Run from the repository root:
#
#   bench/gpu/run_matrix.sh BUDGET_S RESULTS_DIR [PACK_DIR]
#
# PACK_DIR (from bench/gpu/pack.py) rebuilds models/me5-small and ../shared/data/tasks first, for a
# machine that has neither. Each matrix runs as SHARDS processes on the one GPU (--shard i/n: whole
# units of a phase-1 job and the jobs that read its encoder, so no two processes train the same
# encoder); a process still running at its deadline is interrupted and its finished jobs stay.
# RESULTS_DIR gets results.tar.gz (every job's result.json, every cell's result.json and the
# phase-1 records: what `stepstone train export` / `train cells` read; no weights), the logs and
# timing.json (wall time per stage). Reruns resume: finished jobs are skipped. Configs that run at
# once must write to different out folders (a phase-1 or cell folder is named by task and seed only).
set -u
BUDGET=${1:?usage: bench/gpu/run_matrix.sh BUDGET_S RESULTS_DIR [PACK_DIR]}
RESULTS=${2:?usage: bench/gpu/run_matrix.sh BUDGET_S RESULTS_DIR [PACK_DIR]}
PACK=${3:-}
SHARDS=${SHARDS:-16}
PY=${PYTHON:-python3}
START=$(date +%s)
mkdir -p "$RESULTS"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
export STEPSTONE_HOME=${STEPSTONE_HOME:-$(mktemp -d)}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if [ -n "$PACK" ]; then
  mkdir -p ../shared/data/tasks models
  tar -xJf "$PACK/tasks.tar.xz" -C ../shared/data/tasks
  $PY bench/gpu/unpack.py "$PACK/me5-small.q4.npz" models/me5-small || exit 1
fi
echo "{\"stage\": \"setup\", \"s\": $(( $(date +%s) - START ))}" >> "$RESULTS/timing.json"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$RESULTS/device.txt" 2>&1

left() { echo $(( BUDGET - ($(date +%s) - START) )); }

run_stage() {  # run_stage NAME DEADLINE_S CONFIG...: every config's shards at once, stopped at the deadline
  local name=$1 deadline=$2; shift 2
  local t0 pids=() cfg i
  t0=$(date +%s)
  for cfg in "$@"; do
    for i in $(seq 1 "$SHARDS"); do
      timeout --signal=INT --kill-after=10 "$deadline" \
        $PY -m trainer matrix --config "$cfg" --shard "$i/$SHARDS" --resume --no-import \
        > "$RESULTS/$name.$(basename "$cfg" .toml).$i.log" 2>&1 &
      pids+=($!)
    done
  done
  local failed=0
  for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
  echo "{\"stage\": \"$name\", \"s\": $(( $(date +%s) - t0 )), \"processes\": ${#pids[@]}, \"not_ok\": $failed}" >> "$RESULTS/timing.json"
}

M=feature_store/data/matrices
run_stage matrix $(( $(left) - 40 )) "$M/me5_small_gpu.toml"
if [ "$(left)" -gt 100 ]; then
  SHARDS=$(( SHARDS / 2 )) run_stage sizes $(( $(left) - 25 )) "$M/me5_small_gpu_sizes_epochs.toml" "$M/me5_small_gpu_sizes_updates.toml"
fi

# What export and `train cells` read, no weights: jobs' results, cells' results, phase-1 records.
( cd out && find me5-small-gpu me5-small-gpu-sizes-epochs me5-small-gpu-sizes-updates \( -name result.json -o -name done.json -o -path '*/jobs/*/cells/*.json' \) -print0 \
    | tar --null -czf "$RESULTS/results.tar.gz" -T - )
tail -n 3 "$RESULTS"/*.log > "$RESULTS/log_tails.txt" 2>/dev/null
tar -czf "$RESULTS/logs.tar.gz" -C "$RESULTS" --exclude=results.tar.gz --exclude=logs.tar.gz $(cd "$RESULTS" && ls *.log) 2>/dev/null \
  && rm -f "$RESULTS"/*.log
echo "{\"stage\": \"total\", \"s\": $(( $(date +%s) - START ))}" >> "$RESULTS/timing.json"
cat "$RESULTS/timing.json"
