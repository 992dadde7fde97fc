#!/usr/bin/env bash
# Every GPU figure of the trainer's speed in one command, in about five minutes on one H200:
# the trainer's real loop next to a minimal PyTorch loop and the synthetic step for XLM-R Large's
# shape (random init, the real 250k vocabulary, built from a config) on NLI and QA shapes, the
# embedding table dense vs sparse, a torch.profiler view of the update, mE5-small's shape, and
# K loops packed on the GPU. Writes every measurement to ${OUT:-out/gpu-check}/gpu_check.json and
# the loops' own logs to logs.tgz there.
#   bench/gpu_check.sh            # on the GPU machine
#   TINY=1 bench/gpu_check.sh     # anywhere: tiny shapes, a few updates (shows that it runs)
set -uo pipefail
cd "$(dirname "$0")/.."
RESULTS=${OUT:-out/gpu-check}
mkdir -p "$RESULTS"
OUT_DIR=$(mktemp -d)
PY=${PY:-python}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# accelerate (the HF Trainer's) where the image lacks it: carried in .gpu-deps/
$PY -c "import accelerate" 2>/dev/null || export PYTHONPATH="$PWD/.gpu-deps:$PYTHONPATH"
export TOKENIZERS_PARALLELISM=false TRANSFORMERS_VERBOSITY=error HF_HUB_OFFLINE=1
if [ -n "${TINY:-}" ]; then
  LARGE=tiny SMALL=tiny NLI=4 QA=3 SMALL_STEPS=4 PROF=3 EXTRA="--cpu"
else
  LARGE=xlmr-large SMALL=me5-small NLI=150 QA=80 SMALL_STEPS=250 PROF=40 EXTRA=""
fi
bench() {  # name, then bench/trainer_loop.py arguments
  local name=$1; shift
  echo "=== $name: $*"
  timeout 120 $PY bench/trainer_loop.py "$@" $EXTRA --json "$OUT_DIR/$name.json" 2>"$OUT_DIR/$name.err" \
    | grep -v "it/s\]" || { echo "($name failed: tail of its stderr)"; tail -5 "$OUT_DIR/$name.err"; }
}
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv 2>/dev/null
$PY -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
bench large-nli --shape $LARGE --workload nli --steps $NLI --loops trainer,minimal,synthetic
bench large-qa --shape $LARGE --workload qa --steps $QA --loops trainer,minimal,synthetic
bench large-nli-sparse --shape $LARGE --workload nli --steps $NLI --loops trainer --table sparse
bench large-nli-eager --shape $LARGE --workload nli --steps $NLI --loops trainer --no-graphs
bench large-nli-profile --shape $LARGE --workload nli --steps $PROF --loops trainer --profile
bench small-nli --shape $SMALL --workload nli --steps $SMALL_STEPS --loops trainer,minimal,synthetic
bench small-tagging --shape $SMALL --workload tagging --steps $SMALL_STEPS --loops trainer
pack() {  # name, K, then arguments: K trainer loops at once on the one GPU, summed tokens/s
  local name=$1 k=$2; shift 2
  echo "=== $name: $k processes: $*"
  for i in $(seq 1 "$k"); do
    timeout 120 $PY bench/trainer_loop.py "$@" --loops trainer $EXTRA --json "$OUT_DIR/$name-$i.json" \
      >"$OUT_DIR/$name-$i.log" 2>&1 &
  done
  wait
  $PY - "$OUT_DIR" "$name" "$k" <<'PYEOF'
import json, sys
from pathlib import Path
out, name, k = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
rates = [json.loads((out / f"{name}-{i}.json").read_text())["trainer"]["tokens_per_s"]
         for i in range(1, k + 1) if (out / f"{name}-{i}.json").is_file()]
print(f"{len(rates)} of {k} finished; summed tokens/s {sum(rates):,.0f} ({', '.join(f'{r:,.0f}' for r in rates)})")
(out / f"{name}.json").write_text(json.dumps({"k": k, "finished": len(rates), "tokens_per_s": sum(rates),
                                              "each": rates}) + "\n")
PYEOF
}
pack small-nli-pack4 4 --shape $SMALL --workload nli --steps $SMALL_STEPS
pack large-nli-pack2 2 --shape $LARGE --workload nli --steps 100
$PY - "$OUT_DIR" "$RESULTS/gpu_check.json" <<'PYEOF'
import json, sys
from pathlib import Path
work, target = Path(sys.argv[1]), Path(sys.argv[2])
merged = {p.stem: json.loads(p.read_text()) for p in sorted(work.glob("*.json"))}
target.write_text(json.dumps(merged, indent=1, default=float) + "\n")
print(f"{len(merged)} measurements in {target}")
PYEOF
tar czf "$RESULTS/logs.tgz" -C "$OUT_DIR" .
echo "=== done"
