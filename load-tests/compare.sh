#!/usr/bin/env bash
# One run, one machine: the same load generator against
#   (a) nginx answering the availability JSON with a fixed `return 200`,
#   (b) nginx proxying to a fixed upstream that answers that JSON,
#   (c) a bare hyper server answering that JSON,
#   (d) Stockade answering availability with API-key authentication, rate limiting,
#       audit and the cache on, called with the demo key;
# then Stockade's latency at half of peak, order acceptance against bare SQLite write
# transactions of the same shape, availability latency with 1,000 and 1,000,000 SKUs, and
# resident memory idle and under 1,000 connections. Prints every figure, the ratios and the
# targets; writes load-tests/results/compare-<time>.json. Installs nginx from Debian's
# packages if it is missing.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

RUN="${RUN_SECONDS:-10}"
if ! command -v nginx >/dev/null; then
  echo "== installing nginx (Debian's nginx-light)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
fi
build

# (d) first: its own answer is the body every baseline returns.
start_stockade gateway 19000
STOCKADE_PID=$LAST_PID
sleep 1
IDLE_RSS_KB=$(awk '/VmRSS/ {print $2}' "/proc/$STOCKADE_PID/status")
curl -s -H 'Authorization: Bearer stockade-demo-key' http://127.0.0.1:19000/v1/availability/TEE-BLK-M >"$WORK/body.json"
BODY=$(cat "$WORK/body.json")

cat >"$WORK/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  upstream fixed { server 127.0.0.1:19004; keepalive 64; }
  server { listen 127.0.0.1:19001; location / { default_type application/json; return 200 '$BODY'; } }
  server { listen 127.0.0.1:19004; location / { default_type application/json; return 200 '$BODY'; } }
  server {
    listen 127.0.0.1:19002;
    location / { proxy_pass http://fixed; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGINX
taskset -c "$SERVER_CPU" nginx -c "$WORK/nginx.conf" &
PIDS+=($!)
taskset -c "$SERVER_CPU" "$BIN/loadgen" bare --listen 127.0.0.1:19003 --body "$WORK/body.json" &
PIDS+=($!)
wait_port 19001 && wait_port 19002 && wait_port 19003

echo "== peak throughput, 64 connections, ${RUN}s each"
load a-nginx-return  --target http://127.0.0.1:19001 --scenario availability --seconds "$RUN"
load b-nginx-proxy   --target http://127.0.0.1:19002 --scenario availability --seconds "$RUN"
load c-bare-hyper    --target http://127.0.0.1:19003 --scenario availability --seconds "$RUN"
load d-stockade      --target http://127.0.0.1:19000 --scenario availability --seconds "$RUN"

echo "== latency at half of peak (constant arrival rate)"
HALF=$(( $(rps d-stockade) / 2 ))
load d-stockade-half --target http://127.0.0.1:19000 --scenario availability --seconds "$RUN" --rate "$HALF" --connections 256
# The same rate against the bare server: what the load generator and this machine's
# loopback cost at that rate, whoever answers.
load c-bare-hyper-half --target http://127.0.0.1:19003 --scenario availability --seconds "$RUN" --rate "$HALF" --connections 256

echo "== order acceptance (durable, embedded ledger) and bare SQLite transactions of the same shape"
load orders-peak --target http://127.0.0.1:19000 --scenario orders --seconds "$RUN" --connections 32
load orders-half --target http://127.0.0.1:19000 --scenario orders --seconds "$RUN" --rate $(( $(rps orders-peak) / 2 )) --connections 256
taskset -c "$SERVER_CPU" "$BIN/loadgen" sqlite-bare --dir "$WORK/sqlite-bare" --seconds "$RUN" --json "$WORK/sqlite-bare.json"

echo "== memory under 1,000 concurrent connections"
load thousand-connections --target http://127.0.0.1:19000 --scenario browse --seconds "$RUN" --rate 5000 --connections 1000
PEAK_RSS_KB=$(awk '/VmHWM/ {print $2}' "/proc/$STOCKADE_PID/status")

echo "== availability latency as the catalog grows (cache off, SKUs drawn from the whole catalog)"
NOCACHE="$WORK/policies-nocache"
cp -r "$ROOT/policies" "$NOCACHE"
sed -i 's/cache_ttl_ms = [0-9]*/cache_ttl_ms = 0/' "$NOCACHE/routes.toml"
for size in 1000 1000000; do
  python3 -c "
import sys
n=int(sys.argv[1])
print('sku,location,on_hand,safety_stock')
for i in range(n): print(f'CAT-{i:07d},WH-MAIN,{i % 500},0')
" "$size" >"$WORK/catalog-$size.csv"
  STOCKADE_DATA_DIR="$WORK/catalog-$size" STOCKADE_POLICIES="$NOCACHE" "$BIN/stockade" import stock "$WORK/catalog-$size.csv"
  STOCKADE_DATA_DIR="$WORK/catalog-$size" STOCKADE_POLICIES="$NOCACHE" STOCKADE_LISTEN="127.0.0.1:$((19010 + ${#size}))" RUST_LOG=warn \
    taskset -c "$SERVER_CPU" "$BIN/stockade" serve >"$WORK/catalog-$size.log" 2>&1 &
  PIDS+=($!)
  wait_port $((19010 + ${#size}))
  # Straight after an import no page of the catalog has been read yet: measured as is,
  # then again once a full sweep has read every SKU, as in a gateway that has run a while.
  load "catalog-$size-cold" --target "http://127.0.0.1:$((19010 + ${#size}))" --scenario uncached --catalog "$size" \
    --seconds "$RUN" --rate 1000 --connections 64
  load "sweep-$size" --target "http://127.0.0.1:$((19010 + ${#size}))" --scenario sweep --catalog "$size" \
    --warmup 0 --seconds $(( size / 20000 + 2 )) --connections 8 >/dev/null
  load "catalog-$size" --target "http://127.0.0.1:$((19010 + ${#size}))" --scenario uncached --catalog "$size" \
    --seconds "$RUN" --rate 1000 --connections 64
done

mkdir -p "$ROOT/load-tests/results"
report="$ROOT/load-tests/results/compare-$(date -u +%Y%m%dT%H%M%SZ).json"
python3 - "$WORK" "$report" "$IDLE_RSS_KB" "$PEAK_RSS_KB" <<'PY'
import json, pathlib, platform, os, sys
work, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
idle_mb, peak_mb = int(sys.argv[3]) / 1024, int(sys.argv[4]) / 1024
r = {p.stem: json.loads(p.read_text()) for p in work.glob("*.json")}
rps = lambda k: r[k]["throughput_rps"]
lat = lambda k, q: r[k]["latency_ms"][q]
print(f"\n{'run':<24} {'mode':>10} {'rps':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
for k in ["a-nginx-return", "b-nginx-proxy", "c-bare-hyper", "d-stockade", "d-stockade-half", "c-bare-hyper-half",
          "orders-peak", "orders-half", "sqlite-bare", "thousand-connections", "catalog-1000-cold", "catalog-1000000-cold", "catalog-1000", "catalog-1000000"]:
    x = r[k]
    print(f"{k:<24} {x['mode']:>10} {x['throughput_rps']:>9.0f} {x['latency_ms']['p50']:>8.3f} {x['latency_ms']['p99']:>8.3f} {x['errors']:>7}")
ratios = {"d/a": rps("d-stockade") / rps("a-nginx-return"), "d/b": rps("d-stockade") / rps("b-nginx-proxy"),
          "d/c": rps("d-stockade") / rps("c-bare-hyper")}
targets = [
    ("cached availability ≥ 0.6 × nginx return (d/a)", ratios["d/a"], ratios["d/a"] >= 0.6),
    ("cached availability ≥ 1.0 × nginx proxy (d/b)", ratios["d/b"], ratios["d/b"] >= 1.0),
    ("availability p99 at half peak < 5 ms", lat("d-stockade-half", "p99"), lat("d-stockade-half", "p99") < 5),
    ("  (bare hyper's p99 at that same rate, for reference)", lat("c-bare-hyper-half", "p99"), None),
    ("order acceptance p99 at half peak < 25 ms", lat("orders-half", "p99"), lat("orders-half", "p99") < 25),
    ("orders ≥ 0.5 × bare SQLite tx of the same shape", rps("orders-peak") / rps("sqlite-bare"), rps("orders-peak") / rps("sqlite-bare") >= 0.5),
    ("1M-SKU p50 ≤ 1.5 × 1k-SKU p50", lat("catalog-1000000", "p50") / lat("catalog-1000", "p50"), lat("catalog-1000000", "p50") / lat("catalog-1000", "p50") <= 1.5),
    ("1M-SKU p99 ≤ 1.5 × 1k-SKU p99", lat("catalog-1000000", "p99") / lat("catalog-1000", "p99"), lat("catalog-1000000", "p99") / lat("catalog-1000", "p99") <= 1.5),
    ("  (the same p50 ratio straight after the import)", lat("catalog-1000000-cold", "p50") / lat("catalog-1000-cold", "p50"), None),
    ("idle RSS < 40 MB", idle_mb, idle_mb < 40),
    ("peak RSS with 1,000 connections < 200 MB", peak_mb, peak_mb < 200),
]
print("\nratios: " + ", ".join(f"{k} = {v:.2f}" for k, v in ratios.items()))
print(f"\n{'target':<52} {'measured':>10}  met")
for name, value, met in targets:
    print(f"{name:<52} {value:>10.3f}  {'-' if met is None else 'yes' if met else 'NO'}")
machine = {"cpus": os.cpu_count(), "platform": platform.platform(), "server_cpu": os.environ.get("SERVER_CPU", "0"),
           "load_cpu": os.environ.get("LOAD_CPU", "1")}
out.write_text(json.dumps({"machine": machine, "runs": r, "ratios": ratios, "rss_mb": {"idle": idle_mb, "thousand_connections": peak_mb},
                           "targets": [{"target": n, "measured": v, "met": m} for n, v, m in targets]}, indent=2))
print(f"\nreport: {out}")
PY
