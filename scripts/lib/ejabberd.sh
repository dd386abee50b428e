# ejabberd in a temp dir for stox's tests (Debian's ejabberd; run as its own user by
# ejabberdctl). Source after common.sh.

need_ejabberd() { need_pkg ejabberdctl ejabberd; }

# The balancing of sip.example.com over several connections: EJABBERD_BALANCING=bare_source
# (ejabberd 23.01 insists on component_number with it: fixed slots) or unset (ejabberd's
# default: any live connection).
ejabberd_balancing() {
  [ -n "${EJABBERD_BALANCING:-}" ] || return 0
  printf 'domain_balancing:\n  "sip.example.com":\n    type: %s\n    component_number: 2\n' "$EJABBERD_BALANCING"
}

# ejabberd_start DIR C2S_PORT COMPONENT_PORT SECRET: example.com with the component
# sip.example.com balanced over every connection by the sender's bare JID (domain_balancing).
ejabberd_start() {
  local dir=$1 c2s=$2 comp=$3 secret=$4 e="$1/ejabberd"
  mkdir -p "$e/db" "$e/logs"
  cat > "$e/ejabberd.yml" <<YML
hosts:
  - "example.com"
loglevel: ${EJABBERD_LOGLEVEL:-info}
certfiles: []
listen:
  -
    port: $c2s
    ip: "127.0.0.1"
    module: ejabberd_c2s
    access: c2s
  -
    port: $comp
    ip: "127.0.0.1"
    module: ejabberd_service
    hosts:
      "sip.example.com":
        password: "$secret"
$(ejabberd_balancing)
auth_method: internal
auth_password_format: plain
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
  c2s:
    allow: all
modules:
  mod_disco: {}
  mod_ping: {}
  mod_roster: {}
YML
  # Debian's ejabberdctl.cfg names /etc/ejabberd/ejabberd.yml; ours names this one.
  cat > "$e/ejabberdctl.cfg" <<CFG
ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0"
EJABBERD_PID_PATH=$e/ejabberd.pid
EJABBERD_CONFIG_PATH=$e/ejabberd.yml
CONTRIB_MODULES_CONF_DIR=$e/modules.d
CFG
  # ejabberdctl runs ejabberd as the ejabberd user: it must reach and own its files.
  chmod 755 "$dir"
  chown -R ejabberd:ejabberd "$e"
  echo "stox$$@localhost" > "$e/node"
  ejabberd_ctl "$dir" start >"$e/start.out" 2>&1
  if ! ejabberd_ctl "$dir" started >>"$e/start.out" 2>&1; then
    log "ejabberd did not start; see $e/logs"; tail -20 "$e/logs/ejabberd.log" >&2 2>/dev/null; return 1
  fi
}

# ejabberd_ctl DIR ARGS...: ejabberdctl on this instance.
ejabberd_ctl() {
  local e="$1/ejabberd"; shift
  ejabberdctl --ctl-config "$e/ejabberdctl.cfg" --config "$e/ejabberd.yml" --logs "$e/logs" \
    --spool "$e/db" --node "$(cat "$e/node")" "$@"
}

ejabberd_register() {
  ejabberd_ctl "$1" register "$2" example.com "$3" >/dev/null
}

ejabberd_stop() {
  local e="$1/ejabberd" node
  node=$(cat "$e/node" 2>/dev/null) || return 0
  ejabberd_ctl "$1" stop >/dev/null 2>&1 || true
  ejabberd_ctl "$1" stopped >/dev/null 2>&1 || true
  pkill -9 -f -- "-name $node" 2>/dev/null || true
}
