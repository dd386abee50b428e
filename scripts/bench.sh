#!/usr/bin/env bash
# Benchmarks, in one run (README "Performance" quotes its output):
#  1. criterion micro-benchmarks (SIP codec, transaction/dialog/subscription tables);
#  2. page mode under load: the load generator (examples/load.rs: the XMPP server side of
#     XEP-0114 + a SIP endpoint) against stox and against Kamailio's xmpp module (patched,
#     see below), XMPP→SIP and SIP→XMPP over UDP and TCP, at fixed offered rates and at max;
#  3. RFC 7573 sessions: memory per idle session at 1k/10k/50k sessions, MSRP SEND
#     throughput through one session and across 1,000;
#  4. a long run (10 min at half of stox's max): RSS sampled every 30 s, loss counted;
#  5. a smaller whole-deployment figure through real Prosody (scripts/bench/e2e.sh).
#  6. presence: memory per subscription, NOTIFY throughput, restart time (examples/presence_scale.rs).
#  7. groupchat: memory per bridged occupant, room message fan-out (examples/muc_scale.rs).
# Results: bench/results/{page.csv,e2e.csv,sessions.txt,long.csv,page.svg,table.md,presence.txt,groupchat.txt}.
# Usage: scripts/bench.sh [--quick]   (--quick: 3 s per rate, no long run, ≤ 10k sessions)
#
# Kamailio 5.6.3's xmpp module (Debian kamailio-xmpp-modules) dereferences NULL in the expat
# attribute loop of xstream.c on the first element a server sends (kamailio issue 4154):
# the module is rebuilt from Debian's own source package with that loop fixed, and loaded
# from its own directory first (mpath).
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/loadrun.sh"
cd "$STOX_ROOT"
QUICK=""; [ "${1:-}" = "--quick" ] && QUICK=1
SECS=10; [ -n "$QUICK" ] && SECS=3
out=bench/results; mkdir -p "$out"
export LR_DIR; LR_DIR=$(mktemp -d /tmp/stox-bench.XXXXXX)

need_pkg kamailio kamailio
need_pkg /usr/lib/x86_64-linux-gnu/kamailio/modules/xmpp.so kamailio-xmpp-modules
need_pkg dpkg-source dpkg-dev
need_pkg /usr/include/expat.h libexpat1-dev
need_pkg make make

log "building release binaries"
cargo build --release --bin stox --example load 2>&1 | tail -1

log "presence at scale (100,000 subscriptions)"
cargo run -q --release --example presence_scale -- "$([ -n "$QUICK" ] && echo 10000 || echo 100000)" | tee "$out/presence.txt"

log "groupchat at scale (10,000 SIP participants in 1,000 XMPP rooms)"
cargo run -q --release --example muc_scale -- "$([ -n "$QUICK" ] && echo 100 || echo 1000)" | tee "$out/groupchat.txt"

log "criterion micro-benchmarks"
cargo bench --bench sip -- --warm-up-time 1 --measurement-time 3 2>&1 | grep -E "^(sip|tx|dialog|subscription)|time:" | tee "$out/criterion.txt"

# --- the patched Kamailio xmpp module ------------------------------------------------------
KAM_MPATH="$STOX_ROOT/bench/.kamailio-module/:/usr/lib/x86_64-linux-gnu/kamailio/modules/"
export KAM_MPATH
[ -f bench/.kamailio-module/xmpp.so ] || build_kamailio_xmpp bench

# --- page mode under load ---------------------------------------------------------------------
csv="$out/page.csv"
echo "scenario,gateway,offered_rate,secs,sent,delivered,errored,unanswered,throughput,cpu_us_per_msg,peak_rss_kb,p50_us,p99_us" > "$csv"
for sc in x2s s2x-udp s2x-tcp; do
  for rate in 1000 5000 10000 20000 0; do
    line=$(loadrun start_stox "$sc" "$rate" "$SECS" | tail -1); echo "$line" | tee -a "$csv"
    line=$(loadrun start_kamailio_xmpp "$sc" "$rate" "$SECS" --gateway kamailio-xmpp | tail -1); echo "$line" | tee -a "$csv"
  done
done

# --- the whole deployment: SIPp → (Kamailio proxy →) gateway → Prosody → slixmpp -------------
log "end to end through Prosody (SIP→XMPP page mode)"
bash "$STOX_ROOT/scripts/bench/e2e.sh" "$out/e2e.csv" 500 1000 2000 4000

# --- RFC 7573 sessions ------------------------------------------------------------------------
: > "$out/sessions.txt"
for n in 1000 10000 50000; do
  [ -n "$QUICK" ] && [ "$n" -gt 10000 ] && continue
  loadrun start_stox sessions 0 1 --sessions "$n" --sends 20000 | tee -a "$out/sessions.txt"
done
# one connection per session (the file-descriptor limit caps this one)
loadrun start_stox sessions 0 1 --sessions 9000 --per-conn 1 --sends 2000 | head -1 | tee -a "$out/sessions.txt"

# --- long run -----------------------------------------------------------------------------------
if [ -z "$QUICK" ]; then
  max=$(awk -F, '$1=="x2s" && $2=="stox" && $3=="max" {printf "%d", $9}' "$csv")
  half=$(( ${max:-10000} / 2 ))
  log "long run: x2s at $half msg/s for 600 s"
  echo "t_s,rss_kb" > "$out/long.csv"
  ( sleep 2; t=0; while [ $t -le 600 ]; do p=$(cat "$LR_DIR/gw.pid" 2>/dev/null || true)
      [ -n "$p" ] && echo "$t,$(awk '/VmRSS/ {print $2}' /proc/$p/status 2>/dev/null)" >> "$out/long.csv"
      sleep 30; t=$((t + 30)); done ) &
  sampler=$!
  loadrun start_stox x2s "$half" 600 | tail -1 | tee "$out/long.txt"
  kill $sampler 2>/dev/null || true
fi

# --- plot and table -------------------------------------------------------------------------------
"$PY" "$STOX_ROOT/scripts/bench/report.py" "$out" | tee "$out/table.md"
log "results in $out/ (machine: $(nproc) cores, $(date -u +%F))"
rm -rf "$LR_DIR"
