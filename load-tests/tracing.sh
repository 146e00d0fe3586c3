#!/usr/bin/env bash
# What exporting traces costs: the same gateway, the same scenario, run once without an
# OTLP endpoint (the baseline) and once exporting every span to a collector on loopback
# that accepts and drops them. For each: the peak (saturation, 64 connections) and the
# latency at a fixed rate (half the baseline's peak); prints the ratios exported/baseline
# and writes load-tests/results/tracing-<time>.json. SCENARIO (default `checkout`: order
# acceptance, the path with the most spans) and RUN_SECONDS choose the runs.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

RUN="${RUN_SECONDS:-10}"
SCENARIO="${SCENARIO:-checkout}"
build

# The collector: answers every export with 200 and keeps nothing but a count.
cat >"$WORK/sink.py" <<'PY'
import http.server, sys
class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()
        with open(sys.argv[2], "a") as f:
            f.write("1\n")
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
PY
taskset -c "$LOAD_CPU" python3 "$WORK/sink.py" 19204 "$WORK/exports" &
PIDS+=($!)
wait_port 19204

key=(--key stockade-demo-key)
start_stockade baseline 19200
load baseline-peak --target http://127.0.0.1:19200 --scenario "$SCENARIO" --seconds "$RUN" --connections 64 "${key[@]}"
rate=$(( $(rps baseline-peak) / 2 ))
load baseline-at-rate --target http://127.0.0.1:19200 --scenario "$SCENARIO" --seconds "$RUN" --rate "$rate" --connections 256 "${key[@]}"
kill "$LAST_PID"

STOCKADE_OTLP_ENDPOINT=http://127.0.0.1:19204 start_stockade exported 19201
load exported-peak --target http://127.0.0.1:19201 --scenario "$SCENARIO" --seconds "$RUN" --connections 64 "${key[@]}"
load exported-at-rate --target http://127.0.0.1:19201 --scenario "$SCENARIO" --seconds "$RUN" --rate "$rate" --connections 256 "${key[@]}"
kill "$LAST_PID"
sleep 1

mkdir -p "$ROOT/load-tests/results"
report="$ROOT/load-tests/results/tracing-$(date -u +%Y%m%dT%H%M%SZ).json"
python3 - "$WORK" "$report" "$SCENARIO" "$rate" <<'PY'
import json, pathlib, sys
work, out, scenario, rate = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
run = {n: json.loads((work / f"{n}.json").read_text())
       for n in ["baseline-peak", "baseline-at-rate", "exported-peak", "exported-at-rate"]}
exports = sum(1 for _ in open(work / "exports")) if (work / "exports").exists() else 0
peak = run["exported-peak"]["throughput_rps"] / run["baseline-peak"]["throughput_rps"]
lat = {q: run["exported-at-rate"]["latency_ms"][q] / run["baseline-at-rate"]["latency_ms"][q]
       for q in ["p50", "p99"]}
for n, r in run.items():
    l = r["latency_ms"]
    print(f"{n:<18} {r['throughput_rps']:>9.0f} rps  p50 {l['p50']:>7.2f} ms  p99 {l['p99']:>7.2f} ms  errors {r['errors']}")
print(f"exported/baseline: peak {peak:.3f}, p50 at {rate} rps {lat['p50']:.3f}, p99 {lat['p99']:.3f}; "
      f"{exports} export requests reached the collector")
out.write_text(json.dumps({"scenario": scenario, "rate": rate, "exports": exports, "runs": run,
                           "ratios": {"peak": peak, **lat}}, indent=2))
print(f"report: {out}")
PY
