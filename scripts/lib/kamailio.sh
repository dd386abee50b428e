# Kamailio in a temp dir for stox's tests. Source after common.sh.

need_kamailio() { need_pkg kamailio kamailio; }

# kamailio_start DIR PORT STOX_HOSTPORT STOX_SOURCE_PORT [extra kamailio args...]
kamailio_start() {
  local dir=$1 port=$2 stox=$3 stoxport=$4; shift 4
  mkdir -p "$dir"
  sed -e "s/@KADDR@/127.0.0.1/g" -e "s/@KPORT@/$port/g" -e "s/@STOX@/$stox/g" -e "s/@STOXPORT@/$stoxport/g" \
    "$STOX_ROOT/scripts/e2e/kamailio/kamailio.cfg" > "$dir/kamailio.cfg"
  kamailio -f "$dir/kamailio.cfg" -P "$dir/kamailio.pid" -w "$dir" -m 128 -M 16 -DD -E "$@" \
    >>"$dir/kamailio.log" 2>&1 &
  echo $! > "$dir/kamailio.bgpid"
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.05
  done
  log "Kamailio did not start; see $dir/kamailio.log"; tail -20 "$dir/kamailio.log" >&2
  return 1
}

kamailio_stop() {
  local dir=$1 pid
  pid=$(cat "$dir/kamailio.bgpid" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -9 "$pid" 2>/dev/null || true
  pkill -9 -f "kamailio -f $dir/kamailio.cfg" 2>/dev/null || true
  rm -f "$dir/kamailio.bgpid"
}
