#!/usr/bin/env bash
# The k6 scenarios, run here with the in-repo load generator (k6 cannot be installed on
# the development machines). For each scenario: a saturation run to find the peak, then a
# constant-arrival-rate run at half of it (or at RATE). Reports go to
# load-tests/results/run-<time>.json and to the terminal.
#
#   load-tests/run.sh                       every scenario against a fresh local gateway
#   load-tests/run.sh browse checkout       some of them
#   BASE_URL=http://host:8080 API_KEY=… load-tests/run.sh   against a deployment (it must
#                                           hold the load SKUs: stockade import stock load-tests/load-skus.csv)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SECONDS_PER_RUN="${SECONDS_PER_RUN:-10}"
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(browse checkout events mixed)

build
target="${BASE_URL:-}"
if [ -z "$target" ]; then
  start_stockade gateway 19100
  target="http://127.0.0.1:19100"
fi
key=(--key "${API_KEY:-stockade-demo-key}")

for s in "${scenarios[@]}"; do
  load "$s-peak" --target "$target" --scenario "$s" --seconds "$SECONDS_PER_RUN" --connections 64 "${key[@]}"
  rate="${RATE:-$(( $(rps "$s-peak") / 2 ))}"
  load "$s-at-$rate" --target "$target" --scenario "$s" --seconds "$SECONDS_PER_RUN" --rate "$rate" --connections 256 "${key[@]}"
done

mkdir -p "$ROOT/load-tests/results"
report="$ROOT/load-tests/results/run-$(date -u +%Y%m%dT%H%M%SZ).json"
python3 - "$WORK" "$report" <<'PY'
import json, pathlib, sys
work, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
runs = [json.loads(p.read_text()) for p in sorted(work.glob("*.json"))]
out.write_text(json.dumps({"runs": runs}, indent=2))
print(f"\n{'run':<28} {'mode':>10} {'rps':>9} {'p50':>8} {'p95':>8} {'p99':>8} {'errors':>7}")
for r in runs:
    l = r["latency_ms"]
    print(f"{r['label']:<28} {r['mode']:>10} {r['throughput_rps']:>9.0f} {l['p50']:>8.2f} {l['p95']:>8.2f} {l['p99']:>8.2f} {r['errors']:>7}")
print(f"\nreport: {out}")
PY
