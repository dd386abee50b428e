# Runs one load-generator scenario against a gateway. Source after common.sh.
# loadrun GATEWAY_CMD_FN SCENARIO RATE SECS [extra load args...]  → prints the CSV line
# GATEWAY_CMD_FN is a shell function that starts the gateway in the background, writes its
# pid to $LR_DIR/gw.pid and returns; it is given the ports in LR_* variables.
LOAD_BIN=${LOAD_BIN:-$STOX_ROOT/target/release/examples/load}
loadrun() {
  local start_fn=$1 scenario=$2 rate=$3 secs=$4; shift 4
  : "${LR_DIR:?}"
  LR_XMPP=$(free_port); LR_SIP=$(free_port); LR_GW_SIP=$(free_port); LR_MSRP=$(free_port)
  rm -f "$LR_DIR/gw.pid"
  "$LOAD_BIN" --scenario "$scenario" --rate "$rate" --secs "$secs" --xmpp "127.0.0.1:$LR_XMPP" \
    --sip "127.0.0.1:$LR_SIP" --gateway-sip "127.0.0.1:$LR_GW_SIP" --gateway-pidfile "$LR_DIR/gw.pid" "$@" \
    >"$LR_DIR/load.out" 2>"$LR_DIR/load.err" &
  local lp=$!
  sleep 0.2
  "$start_fn"
  if ! timeout $((secs + 180)) tail --pid=$lp -f /dev/null; then log "load generator stuck ($scenario $rate)"; kill -9 $lp 2>/dev/null; fi
  wait $lp 2>/dev/null || true
  local gp; gp=$(cat "$LR_DIR/gw.pid" 2>/dev/null || true)
  if [ -n "$gp" ]; then kill "$gp" 2>/dev/null || true; sleep 0.3; kill -9 "$gp" 2>/dev/null || true; fi
  cat "$LR_DIR/load.out"
}

# stox as the gateway under load.
start_stox() {
  cat > "$LR_DIR/stox.toml" <<TOML
[xmpp]
component = "sip.example.com"
server = "127.0.0.1:$LR_XMPP"
domains = ["example.com"]
secret = "bench-secret"
reconnect_min_ms = 20
[sip]
domain = "example.net"
listen = ["udp:127.0.0.1:$LR_GW_SIP", "tcp:127.0.0.1:$LR_GW_SIP"]
outbound_proxy = "sip:127.0.0.1:$LR_SIP"
[msrp]
listen = "127.0.0.1:$LR_MSRP"
max_sessions = 200000
[limits]
xmpp_queue = 100000
[log]
level = "error"
[store]
path = "$LR_DIR/stox.sqlite"
[metrics]
listen = "127.0.0.1:$(free_port)"
TOML
  "$STOX_ROOT/target/release/stox" --config "$LR_DIR/stox.toml" >"$LR_DIR/stox.log" 2>&1 &
  echo $! > "$LR_DIR/gw.pid"
}

# Kamailio's xmpp module as the gateway under load (page mode only). KAM_MPATH: a directory
# with the patched xmpp.so (scripts/bench.sh builds it) before Debian's module directory.
start_kamailio_xmpp() {
  sed -e "s|@SIPPORT@|$LR_GW_SIP|g" -e "s|@XMPPPORT@|$LR_XMPP|g" -e "s|@PEERSIP@|127.0.0.1:$LR_SIP|g" \
      -e "s|@SECRET@|bench-secret|g" -e "s|@MPATH@|$KAM_MPATH|g" \
      "$STOX_ROOT/scripts/bench/kamailio-xmpp.cfg" > "$LR_DIR/kamailio.cfg"
  kamailio -f "$LR_DIR/kamailio.cfg" -P "$LR_DIR/kamailio.pid" -w "$LR_DIR" -m 512 -M 32 -DD -E \
    >"$LR_DIR/kamailio.log" 2>&1 &
  echo $! > "$LR_DIR/gw.pid"
}

# build_kamailio_xmpp BASE: Kamailio's xmpp module from Debian's source package with the
# xstream.c fix (kamailio issue 4154), into BASE/.kamailio-module/xmpp.so.
build_kamailio_xmpp() {
  local base=$1 src k sudo=""
  log "building Kamailio's xmpp module from Debian's source package, with the xstream.c fix"
  if ! grep -rqs "deb-src" /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null; then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
    printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      | $sudo tee /etc/apt/sources.list.d/stox-deb-src.sources >/dev/null
    $sudo apt-get update -qq >/dev/null
  fi
  src="$base/.kamailio-src"; rm -rf "$src"; mkdir -p "$src"
  (cd "$src" && apt-get source -qq kamailio >/dev/null 2>&1)
  k=$(ls -d "$src"/kamailio-*/ | head -1)
  # the one-line fix: stop at the NULL that ends expat's attribute array
  sed -i 's/while (\*(atts\[i\]) != .\\0.)/while (atts[i] != NULL \&\& *(atts[i]) != '"'"'\\0'"'"')/' "$k/src/modules/xmpp/xstream.c"
  grep -q "atts\[i\] != NULL" "$k/src/modules/xmpp/xstream.c" || { log "patch did not apply"; exit 1; }
  (cd "$k" && make cfg include_modules="xmpp" >/dev/null 2>&1 && make -C src/modules/xmpp >/dev/null 2>&1)
  mkdir -p "$base/.kamailio-module" && cp "$k/src/modules/xmpp/xmpp.so" "$base/.kamailio-module"/
}
