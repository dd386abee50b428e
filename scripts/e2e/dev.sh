#!/usr/bin/env bash
# The README's first command (issue 14): `scripts/dev.sh --demo` brings up Prosody, Kamailio
# and stox and runs a real SIP client (baresip) and a real XMPP client (slixmpp) through the
# gateway, exit 0; `scripts/dev.sh` stops everything it started on SIGTERM.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
dir=$(mktemp -d /tmp/stox-e2e-dev.XXXXXX)
failed=1
cleanup() { if [ "$failed" = 0 ] && [ -z "${KEEP_E2E:-}" ]; then rm -rf "$dir"; else log "logs kept in $dir"; fi; }
trap cleanup EXIT
ports() {
  export C2S_PORT=$(free_port) COMPONENT_PORT=$(free_port) SIP_PORT=$(free_port) STOX_SIP_PORT=$(free_port) \
    MSRP_PORT=$(free_port) METRICS_PORT=$(free_port)
}
ports
t0=$(date +%s.%N)
STOX_DEV_DIR="$dir/demo" timeout 180 bash "$STOX_ROOT/scripts/dev.sh" --demo > "$dir/demo.out" 2>&1 && rc=0 || rc=$?
cat "$dir/demo.out" | grep -E "ready|→|shows|answered|demo" >&2 || true
check "scripts/dev.sh --demo exits 0 with both messages through" \
  bash -c "[ $rc = 0 ] && grep -q 'demo finished: both messages arrived as written' '$dir/demo.out'"
grep -o "ready ([0-9.]* s after scripts/dev.sh started)" "$dir/demo.out" | sed 's/^/METRIC dev_sh_/' || true
sleep 1
left=$(pgrep -f "$dir/demo/(kamailio.cfg|prosody.cfg.lua|stox.toml|bs)" || true)
check "the demo left nothing running" [ -z "$left" ]

ports
STOX_DEV_DIR="$dir/run" bash "$STOX_ROOT/scripts/dev.sh" > "$dir/run.out" 2>&1 &
dev=$!
i=0; until grep -q "stox is ready" "$dir/run.out" 2>/dev/null; do sleep 0.2; i=$((i + 1)); [ $i -gt 300 ] && break; done
check "scripts/dev.sh becomes ready" grep -q "stox is ready" "$dir/run.out"
pids=$(cat "$dir/run/prosody.bgpid" "$dir/run/kamailio.bgpid" 2>/dev/null; pgrep -f "$dir/run/stox.toml" || true)
kill -TERM "$dev"; wait "$dev" 2>/dev/null || true
sleep 1
alive=""; for p in $pids; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
check "SIGTERM to scripts/dev.sh stops Prosody, Kamailio and stox (pids: $(echo $pids))" [ -z "$alive" ]
echo "e2e dev: $passed passed, $fails failed"
[ "$fails" = 0 ] && failed=0
exit "$fails"
