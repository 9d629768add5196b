#!/usr/bin/env bash
# benchab.sh ROUNDS NODES CONC DURATION PARTICIPANTS BUILD_DIR...
#
# Compares builds of Verdict on this machine, alternated in one run: each
# round starts, for every build in turn (the order rotated each round), a
# fresh cluster of NODES `verdict` processes of that build on
# 127.0.0.1:7701.. with a throwaway data dir, runs that build's
# `verdictctl bench --concurrency CONC --participants PARTICIPANTS
# --duration DURATION -o json` against it, and stops it. A BUILD_DIR holds
# the `verdict` and `verdictctl` binaries of one build
# (go build -o DIR/ ./cmd/verdict ./cmd/verdictctl). A BUILD_DIR written
# floor:DIR runs that build's `verdictctl bench --scenario mem-floor` (the
# same work calls with no coordinator, no cluster started) as one more side.
# One JSON line per run; nodes_cpu_s is the CPU time the nodes used during
# the bench command (warm-up and the wait for phase 2 included), from
# /proc/PID/stat: divided by the run's transactions, the nodes' CPU per
# transaction.
set -u
rounds=$1 nodes=$2 conc=$3 dur=$4 parts=$5
shift 5
sides=("$@")
base=7700
# node_cpu_ticks prints the CPU time (user + system, in clock ticks) the
# processes PIDS have used so far, summed (0 for none): from /proc/PID/stat.
node_cpu_ticks() {
  local t=0 pid f
  for pid in "$@"; do
    if read -r -a f <"/proc/$pid/stat"; then
      t=$((t + f[13] + f[14]))
    fi
  done
  echo "$t"
}
run() {
  local dir=$1 tag=$2 work peers="" eps="" pids=() out scenario=mem
  if [[ $dir == floor:* ]]; then
    dir=${dir#floor:} scenario=mem-floor
  fi
  work=$(mktemp -d /tmp/benchab.XXXX)
  for i in $(seq 1 "$nodes"); do
    peers+="${peers:+,}$i=127.0.0.1:$((base + i))"
    eps+="${eps:+,}127.0.0.1:$((base + i))"
  done
  for i in $(seq 1 "$nodes"); do
    [ "$scenario" = mem ] || break
    "$dir/verdict" --id "$i" --peers "$peers" --data-dir "$work/n$i" --log-level error >"$work/n$i.log" 2>&1 &
    pids+=($!)
  done
  for _ in $(seq 1 100); do # a ready leader, within 10 s
    [ "$scenario" = mem ] || break
    "$dir/verdictctl" cluster status --endpoints "$eps" >/dev/null 2>&1 && break
    sleep 0.1
  done
  local cpu0 cpu1
  cpu0=$(node_cpu_ticks "${pids[@]}")
  out=$("$dir/verdictctl" bench --scenario "$scenario" --endpoints "$eps" --concurrency "$conc" --duration "$dur" --participants "$parts" -o json 2>&1)
  cpu1=$(node_cpu_ticks "${pids[@]}")
  printf '{"side":"%s","nodes":%d,"conc":%d,"parts":%d,"nodes_cpu_s":%s,"result":%s}\n' "$tag" "$nodes" "$conc" "$parts" \
    "$(awk -v a="$cpu0" -v b="$cpu1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz }')" \
    "$(printf '%s' "$out" | python3 -c 'import json,sys
try:
    d = json.load(sys.stdin)
    print(json.dumps({k: d.get(k) for k in ("commits", "errors", "commits_per_sec", "p50_ms", "p99_ms", "commit_p50_ms", "commit_p99_ms", "violations", "calls_per_tx")}))
except Exception as e:
    print(json.dumps(str(e)))')"
  if [ ${#pids[@]} -gt 0 ]; then
    kill "${pids[@]}" 2>/dev/null
    wait "${pids[@]}" 2>/dev/null
  fi
  rm -rf "$work"
}
n=${#sides[@]}
for r in $(seq 1 "$rounds"); do
  for k in $(seq 0 $((n - 1))); do
    i=$(((k + r) % n))
    tag=$(basename "${sides[$i]#floor:}")
    [[ ${sides[$i]} == floor:* ]] && tag="floor:$tag"
    run "${sides[$i]}" "$tag"
  done
done
