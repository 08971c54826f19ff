#!/usr/bin/env bash
# A local Redis Cluster for the keyed-pool tests: 3 masters and 3 replicas on
# 127.0.0.1:7100-7105, data in a temp dir, no persistence, a 1 s node timeout, and
# the healthy shards serving while one is down (cluster-require-full-coverage no).
#
#   .ci/redis-cluster.sh start          start it (no-op if it is up and healthy)
#   .ci/redis-cluster.sh stop           stop every node and delete the data
#   .ci/redis-cluster.sh status         exit 0 iff every node is up and cluster_state:ok
#   .ci/redis-cluster.sh kill PORT      kill one node (a crash: SIGKILL)
#   .ci/redis-cluster.sh revive PORT    restart a killed node (it rejoins as a replica)
set -euo pipefail
PORTS=(7100 7101 7102 7103 7104 7105)
DIR="${NETPOOL_CLUSTER_DIR:-${TMPDIR:-/tmp}/netpool-redis-cluster}"

ok() { redis-cli -p "$1" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; }
healthy() { for p in "${PORTS[@]}"; do ok "$p" || return 1; done; }

node() {
  local p=$1
  mkdir -p "$DIR/$p"
  redis-server --port "$p" --bind 127.0.0.1 --daemonize yes \
    --cluster-enabled yes --cluster-config-file "$DIR/$p/nodes.conf" \
    --cluster-node-timeout 1000 --cluster-require-full-coverage no \
    --save "" --appendonly no \
    --dir "$DIR/$p" --logfile "$DIR/$p/redis.log" --pidfile "$DIR/$p/redis.pid"
}

wait_healthy() {
  for _ in $(seq 1 150); do healthy && return 0; sleep 0.2; done
  echo "redis cluster: not healthy after 30 s" >&2
  return 1
}

stop() {
  for p in "${PORTS[@]}"; do
    if [ -f "$DIR/$p/redis.pid" ]; then kill -9 "$(cat "$DIR/$p/redis.pid")" 2>/dev/null || true; fi
    redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true
  done
  rm -rf "$DIR"
}

case "${1:-}" in
  start)
    if healthy; then
      for p in "${PORTS[@]}"; do
        redis-cli -p "$p" config set cluster-require-full-coverage no >/dev/null
      done
      echo "redis cluster: already up"; exit 0
    fi
    stop
    for p in "${PORTS[@]}"; do node "$p"; done
    for p in "${PORTS[@]}"; do
      for _ in $(seq 1 50); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
    done
    redis-cli --cluster create $(printf '127.0.0.1:%s ' "${PORTS[@]}") \
      --cluster-replicas 1 --cluster-yes >"$DIR/create.log" 2>&1 \
      || { cat "$DIR/create.log" >&2; exit 1; }
    wait_healthy
    echo "redis cluster: up on 127.0.0.1:${PORTS[0]}-${PORTS[5]}"
    ;;
  stop) stop ;;
  status) healthy ;;
  kill)
    kill -9 "$(cat "$DIR/${2:?port}/redis.pid")"
    ;;
  revive)
    node "${2:?port}"
    wait_healthy
    ;;
  *) echo "usage: $0 start|stop|status|kill PORT|revive PORT" >&2; exit 2 ;;
esac
