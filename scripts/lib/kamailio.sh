# Kamailio in a temp dir for stox's tests. Source after common.sh.

need_kamailio() { need_pkg kamailio kamailio; }

# kamailio_start DIR PORT STOX_HOSTPORT STOX_SOURCE_PORT [extra kamailio args...]
kamailio_start() {
  local dir=$1 port=$2 stox=$3 stoxport=$4; shift 4
  mkdir -p "$dir"
  # db_text tables for the presence server (-A WITH_PRESENCE), from Kamailio's own schema.
  if [ -d /usr/share/kamailio/dbtext/kamailio ] && [ ! -d "$dir/dbtext" ]; then
    cp -r /usr/share/kamailio/dbtext/kamailio "$dir/dbtext"
  fi
  # KAM_DEBUG: the cfg's log level (2 logs a line per routed request; benchmarks use 1)
  sed -e "s/^debug=2/debug=${KAM_DEBUG:-2}/" -e "s/@KADDR@/127.0.0.1/g" -e "s/@KPORT@/$port/g" -e "s/@STOX@/$stox/g" -e "s/@STOXPORT@/$stoxport/g" -e "s|@DBDIR@|$dir/dbtext|g" -e "s|@DSLIST@|$dir/dispatcher.list|g" -e "s|@FOCUS@|${KAM_FOCUS:-127.0.0.1:9}|g" \
    "$STOX_ROOT/scripts/e2e/kamailio/kamailio.cfg" > "$dir/kamailio.cfg"
  kamailio -f "$dir/kamailio.cfg" -P "$dir/kamailio.pid" -w "$dir" -m "${KAM_SHM:-128}" -M 16 -DD -E "$@" \
    >>"$dir/kamailio.log" 2>&1 &
  echo $! > "$dir/kamailio.bgpid"
  wait_port "$port" 5 && return 0
  log "Kamailio did not start; see $dir/kamailio.log"; tail -20 "$dir/kamailio.log" >&2
  return 1
}

kamailio_stop() {
  stop_pidfile "$1/kamailio.bgpid"
  pkill -9 -f "kamailio -f $1/kamailio.cfg" 2>/dev/null || true
}
