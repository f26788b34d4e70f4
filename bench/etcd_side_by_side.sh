#!/usr/bin/env bash
# bench/etcd_side_by_side.sh — etcd 3.4 and deno-raft measured in one run, on
# one machine, with one load generator (shared/peers/loadgen).
#
#   bench/etcd_side_by_side.sh [--rounds R] [--duration D] [--trials T]
#                              [--heartbeat MS --election MS] [--out DIR]
#                              [--failover-only | --throughput-only]
#
# Both systems get the same timings (default heartbeat 50 ms, election 250 ms).
# deno-raft draws each election wait from [250, 500) ms; etcd counts ticks of
# the heartbeat interval and waits 5 to 9 of them after the last message, so
# 200 to 450 ms: with the same flags etcd's elections start sooner.
#   (--failover-only / --throughput-only run just that half.)
#   1. installs etcd and Go from Debian and builds loadgen when missing
#      (shared/peers/install.sh, loadgen/build.sh);
#   2. throughput / latency: shared/peers/bench.sh for etcd (etcd-grpc and
#      etcd-json, a fresh cluster per round), then for three deno-raft nodes
#      (examples/kv_node.ts, KvStorage files) with --mode http-kv, at the
#      same client counts; rounds interleave to spread machine noise;
#   2b. the platform floor (bench/http_floor.ts --serve-only: Deno.serve,
#      fetch and Deno KV files with no Raft, followers relaying) under the
#      same load points: what any Deno design of this shape can reach here;
#   3. failover: shared/peers/failover.sh for etcd, and the same probe
#      method for deno-raft (one put through each node every 10 ms, SIGKILL
#      the leader, recovery = first successful put issued after the kill).
# Output: JSON lines on stdout and in DIR (default bench/results/<time>/).
# Every loop is bounded; every process is stopped by its pid.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEERS=${PEERS:-$ROOT/../shared/peers}
[ -d "$PEERS" ] || PEERS=/work/shared/peers
LG="$PEERS/loadgen/loadgen"

rounds=2 duration=10s trials=10 hb=50 el=250 out="" do_tp=1 do_fo=1
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --trials) trials=$2; shift 2 ;;
    --heartbeat) hb=$2; shift 2 ;;
    --election) el=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --failover-only) do_tp=0; shift ;;
    --throughput-only) do_fo=0; shift ;;
    *) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || out="$ROOT/bench/results/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
results="$out/results.jsonl"

command -v etcd >/dev/null 2>&1 || bash "$PEERS/install.sh" >&2 || true
[ -x "$LG" ] || bash "$PEERS/loadgen/build.sh" >&2

DENO_DIR_DATA="" DENO_PIDS=() PROBE_PID="" FLOOR_PID=""
stop_deno() {
  local pid i
  for pid in "${DENO_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for i in $(seq 1 100); do
    local alive=0
    for pid in "${DENO_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for pid in "${DENO_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  DENO_PIDS=()
}
stop_floor() {
  [ -n "$FLOOR_PID" ] || return 0
  kill -TERM "$FLOOR_PID" 2>/dev/null || true
  wait "$FLOOR_PID" 2>/dev/null || true
  FLOOR_PID=""
}
cleanup() {
  stop_floor
  if [ -n "$PROBE_PID" ]; then kill -TERM "$PROBE_PID" 2>/dev/null || true; fi
  stop_deno
  [ -n "$DENO_DIR_DATA" ] && rm -rf "$DENO_DIR_DATA"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

IDS=(a b c) PORTS=() URLS=()
start_node() { # index
  local i=$1 id=${IDS[$1]}
  RAFT_SECRET=side-by-side-secret-0123456789 deno run -A --quiet \
    --config "$ROOT/deno.json" "$ROOT/examples/kv_node.ts" \
    --id "$id" --listen "127.0.0.1:${PORTS[$i]}" --peers "$PEERS_ARG" \
    --data "$DENO_DIR_DATA/$id" --election-ms "$el" --heartbeat-ms "$hb" \
    >>"$out/deno-$id.log" 2>&1 &
  DENO_PIDS[$i]=$!
}
status_of() { curl -s --max-time 1 "$1/status" 2>/dev/null || true; }
deno_leader_index() { # prints the index of the leader all answering nodes agree on
  local i leader="" st=()
  for i in 0 1 2; do
    st[$i]=$(status_of "${URLS[$i]}")
    grep -q '"role":"Leader"' <<<"${st[$i]}" && leader=$i
  done
  [ -n "$leader" ] || return 1
  for i in 0 1 2; do
    [ -z "${st[$i]}" ] && continue
    grep -q "\"leaderId\":\"${IDS[$leader]}\"" <<<"${st[$i]}" || return 1
  done
  echo "$leader"
}
wait_deno_stable() { # seconds
  local end=$(( $(date +%s) + $1 )) a b
  while [ "$(date +%s)" -lt "$end" ]; do
    a=$(deno_leader_index || true)
    sleep 0.3
    b=$(deno_leader_index || true)
    [ -n "$a" ] && [ "$a" = "$b" ] && return 0
  done
  return 1
}
start_deno() {
  DENO_DIR_DATA=$(mktemp -d /tmp/deno-raft-side.XXXXXX)
  read -r -a PORTS < <(cd "$ROOT" && deno eval --quiet \
    'import { freePorts } from "./examples/_kv_process.ts"; console.log(freePorts(3).join(" "))')
  URLS=() PEERS_ARG=""
  for i in 0 1 2; do
    URLS[$i]="http://127.0.0.1:${PORTS[$i]}"
    PEERS_ARG="${PEERS_ARG:+$PEERS_ARG,}${IDS[$i]}=${URLS[$i]}"
  done
  for i in 0 1 2; do start_node "$i"; done
  wait_deno_stable 60 || { echo "deno-raft cluster not stable" >&2; exit 1; }
}
eps() { local IFS=,; echo "${URLS[*]}"; }

[ $do_tp = 1 ] && echo "== throughput: etcd (fresh cluster per round), then deno-raft" >&2
for r in $(seq 1 "$rounds"); do
  [ $do_tp = 1 ] || break
  bash "$PEERS/bench.sh" --rounds 1 --duration "$duration" \
    --heartbeat "$hb" --election "$el" \
    --points "etcd-grpc:1 etcd-grpc:16 etcd-grpc:64 etcd-grpc:256 etcd-json:1 etcd-json:64" |
    sed "s/\"round\":1/\"round\":$r,\"system\":\"etcd\"/" | tee -a "$results"
  start_deno
  bash "$PEERS/bench.sh" --rounds 1 --duration "$duration" --endpoints "$(eps)" \
    --points "http-kv:1 http-kv:16 http-kv:64 http-kv:256" |
    sed "s/\"round\":1/\"round\":$r,\"system\":\"deno-raft\"/" | tee -a "$results"
  stop_deno; rm -rf "$DENO_DIR_DATA"; DENO_DIR_DATA=""
  floor_out="$out/floor-$r.txt"
  deno run -A --quiet --config "$ROOT/deno.json" "$ROOT/bench/http_floor.ts" \
    --serve-only >"$floor_out" 2>>"$out/floor.log" &
  FLOOR_PID=$!
  for i in $(seq 1 300); do [ -s "$floor_out" ] && break; sleep 0.1; done
  if [ -s "$floor_out" ]; then
    bash "$PEERS/bench.sh" --rounds 1 --duration "$duration" \
      --endpoints "$(head -1 "$floor_out")" \
      --points "http-kv:1 http-kv:16 http-kv:64 http-kv:256" |
      sed "s/\"round\":1/\"round\":$r,\"system\":\"deno-floor\"/" | tee -a "$results"
  else
    echo "platform floor did not start (see $out/floor.log)" >&2
  fi
  stop_floor
done

[ $do_fo = 1 ] || { echo "results in $results" >&2; exit 0; }
echo "== failover: etcd" >&2
{ bash "$PEERS/failover.sh" --trials "$trials" --heartbeat "$hb" --election "$el" \
  --probe-mode etcd-json || echo "etcd failover did not run (see above)" >&2; } |
  sed 's/^{/{"system":"etcd",/' | tee -a "$results"

echo "== failover: deno-raft" >&2
recovery_ms() { # file kill_ns (the awk of shared/peers/failover.sh)
  awk -v k="$2" '$3==1 && $1>=k { if (best=="" || $2<best) best=$2 }
                 END { if (best!="") printf "%.1f\n", (best-k)/1e6 }' "$1"
}
start_deno
samples=()
for t in $(seq 1 "$trials"); do
  wait_deno_stable 60 || { echo "trial $t: not stable" >&2; break; }
  sleep 0.5
  pf="$out/deno-probe-$t.txt"
  "$LG" probe --mode http-kv --endpoints "$(eps)" --interval 10ms --timeout 2s \
    --max-inflight 1024 --duration 40s >"$pf" 2>"$out/deno-probe-$t.err" &
  PROBE_PID=$!
  sleep 1
  li=$(deno_leader_index || true)
  [ -n "$li" ] || { echo "trial $t: no leader" >&2; break; }
  kill_ns=$(date +%s%N)
  kill -KILL "${DENO_PIDS[$li]}"
  rec="" deadline=$(( $(date +%s%N) + 20000000000 ))
  while [ "$(date +%s%N)" -lt "$deadline" ]; do
    rec=$(recovery_ms "$pf" "$kill_ns"); [ -n "$rec" ] && break; sleep 0.1
  done
  sleep 0.3
  kill -TERM "$PROBE_PID" 2>/dev/null || true; wait "$PROBE_PID" 2>/dev/null || true
  PROBE_PID=""
  rec=$(recovery_ms "$pf" "$kill_ns")
  echo "deno-raft trial $t: killed ${IDS[$li]}; recovery ${rec:-none} ms" >&2
  [ -n "$rec" ] && samples+=("$rec")
  wait "${DENO_PIDS[$li]}" 2>/dev/null || true
  start_node "$li"
done
printf '%s\n' "${samples[@]}" | sort -g | awk -v h="$hb" -v e="$el" -v T="$trials" '
  NF { v[n++]=$1 }
  END {
    if (n==0) { printf "{\"system\":\"deno-raft\",\"heartbeat_ms\":%d,\"election_ms\":%d,\"trials\":%d,\"ok\":0}\n", h, e, T; exit }
    med = (n%2) ? v[(n-1)/2] : (v[n/2-1]+v[n/2])/2
    s = ""; for (i=0;i<n;i++) s = s (i?",":"") v[i]
    printf "{\"system\":\"deno-raft\",\"heartbeat_ms\":%d,\"election_ms\":%d,\"trials\":%d,\"ok\":%d,\"p50_ms\":%.1f,\"max_ms\":%.1f,\"min_ms\":%.1f,\"samples_ms\":[%s]}\n", h, e, T, n, med, v[n-1], v[0], s
  }' | tee -a "$results"
echo "results in $results" >&2
