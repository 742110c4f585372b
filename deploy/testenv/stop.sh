#!/usr/bin/env bash
# Stops the servers that deploy/testenv/start.sh DIR started: SIGTERM, wait up to
# ENTREPOT_TEST_STOP_TIMEOUT seconds (default 10), then SIGKILL. Already-dead
# processes and a DIR without servers are fine. The data under DIR is kept;
# remove DIR yourself when done.
#
# Usage: deploy/testenv/stop.sh DIR
set -euo pipefail

log() { printf '[testenv stop] %s\n' "$*" >&2; }

[[ $# -eq 1 && -n $1 ]] || { log "usage: $0 DIR"; exit 2; }
if [[ ! -d $1 ]]; then
	log "$1 does not exist; nothing to stop"
	exit 0
fi
DIR=$(cd "$1" && pwd)
PIDFILE="$DIR/testenv.pids"
STOP_TIMEOUT="${ENTREPOT_TEST_STOP_TIMEOUT:-10}"

# Only signal a PID that still runs one of our servers with data under DIR,
# so a recycled PID of an unrelated process is never touched.
ours() {
	local pid=$1 cmdline
	cmdline=$({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null) || return 1
	[[ $cmdline == *"$DIR/"* ]]
}

pids=()
if [[ -s $PIDFILE ]]; then
	while read -r pid name; do
		[[ $pid =~ ^[0-9]+$ ]] || continue
		if ours "$pid"; then
			pids+=("$pid")
			log "stopping $name (pid $pid)"
			kill -TERM "$pid" 2>/dev/null || true
		fi
	done <"$PIDFILE"
fi

if ((${#pids[@]} == 0)); then
	log "no running servers for $DIR"
	rm -f "$PIDFILE"
	exit 0
fi

deadline=$((SECONDS + STOP_TIMEOUT))
while :; do
	alive=()
	for pid in "${pids[@]}"; do
		ours "$pid" && alive+=("$pid")
	done
	((${#alive[@]} == 0)) && break
	if ((SECONDS >= deadline)); then
		log "still running after ${STOP_TIMEOUT}s, sending SIGKILL: ${alive[*]}"
		kill -KILL "${alive[@]}" 2>/dev/null || true
		sleep 0.2
		for pid in "${alive[@]}"; do
			# A zombie (already dead, not yet reaped by its parent) is fine.
			state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
			[[ -z $state || $state == Z ]] || log "WARNING: pid $pid survived SIGKILL"
		done
		break
	fi
	sleep 0.1
done
rm -f "$PIDFILE"
log "stopped"
