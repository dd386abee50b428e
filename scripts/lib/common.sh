# Shared helpers for stox's scripts: package installs, ports, Prosody in a temp dir.
# Source it; every function is safe to call repeatedly.

STOX_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY=/usr/bin/python3   # Debian's python, where python3-slixmpp lives

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# need_pkg CMD-or-FILE PACKAGE...: apt-get install PACKAGE when CMD/FILE is missing.
APT_UPDATED=""
need_pkg() {
  local probe=$1; shift
  if command -v "$probe" >/dev/null 2>&1 || [ -e "$probe" ]; then return 0; fi
  log "installing $* (apt-get)"
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  if [ -z "$APT_UPDATED" ]; then $sudo apt-get update -qq >/dev/null; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

need_prosody() {
  need_pkg prosody prosody
  need_pkg /usr/lib/python3/dist-packages/slixmpp python3-slixmpp
}

# free_port: a port free for TCP and UDP right now, below the kernel's ephemeral range
# (32768+), so that no outgoing connection of a test can take it before its listener binds.
free_port() {
  "$PY" - <<'PYEOF'
import random, socket
for _ in range(200):
    p = random.randrange(20000, 32000)
    try:
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            s = socket.socket(socket.AF_INET, kind); s.bind(("127.0.0.1", p)); s.close()
        print(p); break
    except OSError:
        continue
PYEOF
}

# wait_port PORT [SECONDS]: until something listens on 127.0.0.1:PORT.
wait_port() {
  local port=$1 limit=${2:-10} i=0
  while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    i=$((i + 1)); [ $i -gt $((limit * 20)) ] && return 1
    sleep 0.05
  done
}

# prosody_config DIR C2S_PORT COMPONENT_PORT SECRET: writes DIR/prosody.cfg.lua
# (XMPP domain example.com, component sip.example.com, loopback only, no TLS, no s2s).
prosody_config() {
  local dir=$1 c2s=$2 comp=$3 secret=$4
  mkdir -p "$dir/data"
  sed -e "s|@DIR@|$dir|g" -e "s|@C2S@|$c2s|g" -e "s|@COMPONENT@|$comp|g" -e "s|@SECRET@|$secret|g" \
      -e "s|@ADDR@|127.0.0.1|g" "$STOX_ROOT/scripts/e2e/prosody/prosody.cfg.lua.in" > "$dir/prosody.cfg.lua"
}

# prosody_start DIR: starts Prosody with DIR/prosody.cfg.lua in the background.
prosody_start() {
  local dir=$1
  prosody --config "$dir/prosody.cfg.lua" >>"$dir/prosody.out" 2>&1 &
  echo $! > "$dir/prosody.bgpid"
}

# stop_pidfile FILE: TERM the process named in FILE, KILL it after 5 s, remove FILE.
stop_pidfile() {
  local file=$1 pid
  pid=$(cat "$file" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$file"
}

prosody_stop() { stop_pidfile "$1/prosody.bgpid"; }

prosody_register() {
  local dir=$1 user=$2 pass=$3
  prosodyctl --config "$dir/prosody.cfg.lua" register "$user" example.com "$pass" >/dev/null 2>&1
}

# stox_xmpp_toml COMPONENT_PORT: the [xmpp] section every test and bench config shares.
stox_xmpp_toml() {
  printf '[store]\npath = "%s/stox.sqlite"\n' "$dir"
  printf '[metrics]\nlisten = "127.0.0.1:%s"\n' "${METRICS_PORT:=$(free_port)}"
  printf '[xmpp]\ncomponent = "sip.example.com"\nserver = "127.0.0.1:%s"\ndomains = ["example.com"]\n' "$1"
}

# Check counters for e2e scripts: ok/bad count into $passed/$fails; check runs a command.
passed=0; fails=0
ok() { log "ok   $*"; passed=$((passed + 1)); }
bad() { log "FAIL $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

# sipp_run NAME SCENARIO TARGET [sipp args]: one SIPp client run in $dir, messages traced to
# $dir/NAME.msg, output in $dir/sipp-NAME.out.
sipp_run() {
  local name=$1 sf=$2 target=$3; shift 3
  (cd "$dir" && timeout 90 sipp "$target" -sf "$STOX_ROOT/scripts/e2e/sipp/$sf" -i 127.0.0.1 -p "$(free_port)" \
     -nostdin -timeout 60s -timeout_error -trace_err -trace_msg -message_file "$dir/$name.msg" "$@" >"$dir/sipp-$name.out" 2>&1)
}

# baresip_config DIR SIP_PORT CTRL_PORT [MODULE.so...]: a headless baresip in DIR/bs (ctrl_tcp
# for commands, a sine as audio so no sound device is needed) plus the extra modules given.
baresip_config() {
  local d=$1/bs port=$2 ctrl=$3; shift 3
  mkdir -p "$d"
  {
    printf 'poll_method\t\tepoll\nsip_listen\t\t127.0.0.1:%s\nmodule_path\t\t/usr/lib/baresip/modules\n' "$port"
    for m in account.so contact.so menu.so ctrl_tcp.so "$@" g711.so ausine.so; do printf 'module\t\t\t%s\n' "$m"; done
    printf 'ctrl_tcp_listen\t\t127.0.0.1:%s\naudio_player\t\tausine,nil\naudio_source\t\tausine,440\n' "$ctrl"
  } > "$d/config"
}
