#!/usr/bin/env bash
# GPU readiness check of pipezero, one script for a lent CUDA machine (docs/performance.md, GPU).
#
#   benchmarks/gpu_check.sh [RUN_MINUTES]      # default 4; the whole script stays under ~9 min
#
# 1. installs what the machine lacks: from .whl/ (made by benchmarks/gpu_wheels.sh on a machine
#    with a package index) with --no-index, else with pip from an index when one answers; builds
#    the C++ search core (pip install --no-build-isolation --no-deps -e .);
# 2. runs the CUDA-marked tests (pytest -m cuda tests/device, one process: the image may lack
#    pytest-xdist, which the project's addopts ask for);
# 3. runs benchmarks/gpu_throughput.py: Atari update throughput (fp32, bf16), full search ms at
#    B=8/64/256 and a RUN_MINUTES rezero_atari --device cuda run, with an Atari 100k estimate.
#
# Writes $OUT/gpu_check.json (OUT defaults to the current directory) with the card, the
# torch/CUDA versions, the test outcome and the figures; prints the estimate at the end.
# Environment: PYTHON (default python3), OUT, BUDGET_S (default 540: seconds the script may take).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
MINUTES=${1:-${RUN_MINUTES:-4}}
OUTDIR=${OUT:-.}
BUDGET_S=${BUDGET_S:-540}
mkdir -p "$OUTDIR"
export PYTHONUNBUFFERED=1
say() { echo "[gpu_check ${SECONDS}s] $*"; }

# -- 1. dependencies and the build ---------------------------------------------------------
NEEDED="gymnasium easydict tensorboardX ale_py tqdm pytest"
missing() {
    "$PY" - "$@" <<'EOF'
import importlib.util, sys
print(" ".join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))
EOF
}
lacking=$(missing $NEEDED)
if [ -n "$lacking" ] && compgen -G ".whl/*.whl" >/dev/null; then
    say "installing from .whl/: $(ls .whl | tr '\n' ' ')"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    lacking=$(missing $NEEDED)
fi
if [ -n "$lacking" ]; then
    say "missing $lacking: trying pip install -e '.[atari]' (needs a package index)"
    timeout 240 "$PY" -m pip install -q -e ".[atari]" pytest pytest-timeout
    lacking=$(missing $NEEDED)
fi
if [ -n "$lacking" ]; then
    say "cannot run: Python modules missing: $lacking"
    say "on a machine with an index run benchmarks/gpu_wheels.sh, then bring .whl/ along"
    exit 3
fi
if ! "$PY" -c "import pipezero.mcts, pipezero.middleware" 2>/dev/null; then
    say "building pipezero (C++ search core) with the machine's torch"
    if ! timeout 300 "$PY" -m pip install -q --no-build-isolation --no-deps -e .; then
        say "the build failed: needs scikit-build-core, pybind11, cmake and a C++17 compiler"
        exit 4
    fi
fi
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; \
print('card:', torch.cuda.get_device_name(), '| torch', torch.__version__, '| CUDA', torch.version.cuda)" \
    || exit 5

# -- 2. the CUDA-marked tests ----------------------------------------------------------------
say "CUDA tests"
timeout 240 "$PY" -m pytest -q -o addopts=-ra -m cuda tests/device -p no:cacheprovider 2>&1 \
    | tee "$OUTDIR/gpu_tests.log"
tests_rc=${PIPESTATUS[0]}
tests_line=$(grep -E "passed|failed|error" "$OUTDIR/gpu_tests.log" | tail -1)

# -- 3. throughput, search latency and the timed recipe run -------------------------------------
# Leave ~150 s for model building, the microbenchmarks and the run's start and final save.
left=$((BUDGET_S - SECONDS - 150))
fit=$("$PY" -c "print(max(0.0, min(float('$MINUTES'), $left / 60)))")
[ "$fit" != "$MINUTES" ] && say "recipe run shortened to $fit min to stay inside ${BUDGET_S}s"
say "throughput, search and a $fit-minute rezero_atari --device cuda run"
timeout $((BUDGET_S - SECONDS > 60 ? BUDGET_S - SECONDS : 60)) "$PY" benchmarks/gpu_throughput.py \
    --device cuda --recipe-minutes "$fit" --out "$OUTDIR/gpu_throughput.json"
bench_rc=$?

# -- one JSON file with everything ---------------------------------------------------------
"$PY" - "$OUTDIR" "$tests_rc" "$tests_line" "$bench_rc" <<'EOF'
import json, subprocess, sys
from pathlib import Path
out, tests_rc, tests_line, bench_rc = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
path = out / "gpu_throughput.json"
report = json.loads(path.read_text()) if path.is_file() else {}
commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
report |= {"commit": commit or None, "cuda_tests": {"rc": tests_rc, "summary": tests_line},
           "benchmark_rc": bench_rc}
(out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n")
machine = report.get("machine", {})
print(f"card {machine.get('card')} | torch {machine.get('torch')} | CUDA {machine.get('cuda')}")
print(f"CUDA tests: {tests_line or 'no summary'} (rc {tests_rc})")
for u in report.get("updates", []):
    print(f"update {u['network']:14s} amp={u['amp']}: {u['learn_ms']} ms ({u['updates_per_s']}/s)")
for s in report.get("search", []):
    print(f"search {s['network']:14s} B={s['batch']:<4d}: {s['search_ms']} ms")
run = report.get("recipe", {})
if run:
    print(f"rezero_atari run: {run.get('env_step')} env steps, {run.get('train_iter')} updates "
          f"in {run.get('wall_s')} s ({run.get('env_steps_per_wall_s')} env steps/s overall)")
est = report.get("estimate_atari100k_hours", {})
print("Atari 100k estimate (hours):", {k: v for k, v in est.items() if k.endswith("hours")} or est)
print(f"written: {out / 'gpu_check.json'}")
EOF
say "done"
[ "$tests_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]
