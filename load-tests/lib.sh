# Shared by run.sh and compare.sh: building, starting and stopping the pieces.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/target/release"
WORK="$(mktemp -d /tmp/stockade-load.XXXXXX)"
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# Servers get core 0 and the load generator core 1, so that neither steals the other's
# CPU and every target is measured under the same conditions.
SERVER_CPU="${SERVER_CPU:-0}"
LOAD_CPU="${LOAD_CPU:-1}"

build() {
  echo "== building (release)"
  (cd "$ROOT" && cargo build --release --quiet -p stockade -p loadgen)
}

wait_port() { # port
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "error: nothing listens on port $1" >&2
  return 1
}

# start_stockade NAME PORT [POLICIES] : a fresh data directory, the demo catalog, and
# the load SKUs with ample stock. The import runs after the start, because the demo
# catalog is seeded only into an empty store.
start_stockade() {
  local name=$1 port=$2 policies=${3:-$ROOT/policies}
  local data="$WORK/$name"
  STOCKADE_DATA_DIR="$data" STOCKADE_POLICIES="$policies" STOCKADE_LISTEN="127.0.0.1:$port" RUST_LOG=warn \
    taskset -c "$SERVER_CPU" "$BIN/stockade" serve >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  LAST_PID=$!
  wait_port "$port"
  STOCKADE_DATA_DIR="$data" STOCKADE_POLICIES="$policies" "$BIN/stockade" import stock "$ROOT/load-tests/load-skus.csv" >/dev/null
}

# load NAME ARGS… : one load-generator run, its JSON kept as $WORK/NAME.json.
load() {
  local name=$1
  shift
  taskset -c "$LOAD_CPU" "$BIN/loadgen" run --label "$name" --json "$WORK/$name.json" "$@"
}

# The throughput a run reached.
rps() { python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['throughput_rps']))" "$WORK/$1.json"; }
p99() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['latency_ms']['p99'])" "$WORK/$1.json"; }
