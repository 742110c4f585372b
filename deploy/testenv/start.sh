#!/usr/bin/env bash
# Starts FerretDB (SQLite backend, MongoDB wire protocol) and MinIO (S3) on free
# loopback ports with all their data under DIR, waits until both answer, creates
# the bucket "entrepot-test", and writes DIR/env.sh with the ENTREPOT_TEST_*
# variables the storage tests read. Stop them with deploy/testenv/stop.sh DIR.
#
# Usage: deploy/testenv/start.sh DIR
#        . DIR/env.sh
#
# Binaries come from deploy/testenv/install.sh (run here; a no-op when cached).
# ENTREPOT_TEST_START_TIMEOUT (seconds, default 60) bounds each readiness wait.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUCKET=entrepot-test
REGION=us-east-1
TIMEOUT="${ENTREPOT_TEST_START_TIMEOUT:-60}"

log() { printf '[testenv start] %s\n' "$*" >&2; }
die() { printf '[testenv start] ERROR: %s\n' "$*" >&2; exit 1; }

[[ $# -eq 1 && -n $1 ]] || die "usage: $0 DIR"
mkdir -p "$1"
DIR=$(cd "$1" && pwd)
PIDFILE="$DIR/testenv.pids"

if [[ -s $PIDFILE ]]; then
	while read -r pid _; do
		if kill -0 "$pid" 2>/dev/null; then
			die "servers from an earlier start are still running in $DIR (pid $pid); run $HERE/stop.sh $DIR first"
		fi
	done <"$PIDFILE"
fi
: >"$PIDFILE"
rm -f "$DIR/env.sh"

# Binaries (pinned versions; reused from the cache when present).
PATHS=$("$HERE/install.sh") || die "install.sh failed"
FERRETDB=$(sed -n 's/^ferretdb: //p' <<<"$PATHS")
MINIO=$(sed -n 's/^minio: //p' <<<"$PATHS")
[[ -n $FERRETDB && -x $FERRETDB ]] || die "install.sh reported no FerretDB binary"
[[ -n $MINIO && -x $MINIO ]] || die "install.sh reported no MinIO binary"

# If anything below fails, do not leave half of the environment running.
STARTED_OK=0
on_exit() {
	if [[ $STARTED_OK != 1 ]]; then
		log "start failed; stopping what was started"
		"$HERE/stop.sh" "$DIR" >&2 || true
	fi
}
trap on_exit EXIT

have_python() { command -v python3 >/dev/null 2>&1 && python3 -c 'import socket' >/dev/null 2>&1; }

# free_ports N: prints N distinct loopback TCP ports that are free right now.
free_ports() {
	local n=$1
	if have_python; then
		python3 - "$n" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
		return
	fi
	# Fallback: random high ports that nothing accepts on.
	local ports=() p
	while ((${#ports[@]} < n)); do
		p=$((20000 + RANDOM % 40000))
		[[ " ${ports[*]} " == *" $p "* ]] && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			ports+=("$p")
		fi
	done
	echo "${ports[*]}"
}

# mongo_hello PORT: sends a real OP_MSG {hello: 1} and checks for {ok: 1}.
mongo_hello() {
	if have_python; then
		python3 - "$1" <<'EOF'
import socket, struct, sys
def cstr(s): return s.encode() + b"\0"
body = b"\x10" + cstr("hello") + struct.pack("<i", 1)
body += b"\x02" + cstr("$db") + struct.pack("<i", 6) + cstr("admin")
doc = struct.pack("<i", len(body) + 5) + body + b"\0"
msg = struct.pack("<I", 0) + b"\0" + doc  # flagBits, section kind 0, body
msg = struct.pack("<iiii", 16 + len(msg), 1, 0, 2013) + msg
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2) as s:
    s.sendall(msg)
    hdr = b""
    while len(hdr) < 16:
        chunk = s.recv(16 - len(hdr))
        if not chunk: sys.exit(1)
        hdr += chunk
    n = struct.unpack("<i", hdr[:4])[0] - 16
    rest = b""
    while len(rest) < n:
        chunk = s.recv(n - len(rest))
        if not chunk: sys.exit(1)
        rest += chunk
i = rest.find(b"\x01ok\x00")
sys.exit(0 if i >= 0 and struct.unpack("<d", rest[i + 4:i + 12])[0] == 1.0 else 1)
EOF
		return
	fi
	# Fallback without python3: the port accepts connections.
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

minio_live() { curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/minio/health/live" 2>/dev/null; }

record_pid() { printf '%s %s\n' "$1" "$2" >>"$PIDFILE"; }

# wait_ready NAME PID LOG CHECK ARGS...: polls CHECK until it succeeds, the
# process dies, or TIMEOUT seconds pass. Returns 2 if the port was taken.
wait_ready() {
	local name=$1 pid=$2 logf=$3; shift 3
	local deadline=$((SECONDS + TIMEOUT))
	while ((SECONDS < deadline)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			if grep -qi 'address already in use' "$logf" 2>/dev/null; then
				return 2
			fi
			log "$name (pid $pid) exited before becoming ready; its log ($logf):"
			tail -n 50 "$logf" >&2 || true
			return 1
		fi
		if "$@"; then
			return 0
		fi
		sleep 0.2
	done
	log "$name (pid $pid) not ready after ${TIMEOUT}s; its log ($logf):"
	tail -n 50 "$logf" >&2 || true
	return 1
}

# ---- FerretDB -------------------------------------------------------------
mkdir -p "$DIR/ferretdb/data" "$DIR/ferretdb/state"
FERRETDB_LOG="$DIR/ferretdb/ferretdb.log"
FERRETDB_PID=
for attempt in 1 2 3; do
	read -r MONGO_PORT <<<"$(free_ports 1)"
	: >"$FERRETDB_LOG"
	# setsid: own session, so a Ctrl-C in the caller's terminal does not kill it.
	setsid "$FERRETDB" \
		--handler=sqlite \
		--sqlite-url="file:$DIR/ferretdb/data/" \
		--listen-addr="127.0.0.1:$MONGO_PORT" \
		--state-dir="$DIR/ferretdb/state" \
		--debug-addr=- \
		--telemetry=disable \
		--log-level=warn \
		</dev/null >>"$FERRETDB_LOG" 2>&1 &
	FERRETDB_PID=$!
	record_pid "$FERRETDB_PID" ferretdb
	rc=0
	wait_ready FerretDB "$FERRETDB_PID" "$FERRETDB_LOG" mongo_hello "$MONGO_PORT" || rc=$?
	[[ $rc == 0 ]] && break
	[[ $rc == 2 && $attempt -lt 3 ]] || die "FerretDB did not start"
	log "FerretDB port $MONGO_PORT was taken; retrying with another port"
done
log "FerretDB ready on 127.0.0.1:$MONGO_PORT (pid $FERRETDB_PID)"

# ---- MinIO ----------------------------------------------------------------
rand_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
S3_ACCESS_KEY="testenv$(rand_hex 8)"  # 23 chars
S3_SECRET_KEY="$(rand_hex 20)"        # 40 chars
mkdir -p "$DIR/minio/data"
MINIO_LOG="$DIR/minio/minio.log"
MINIO_PID=
for attempt in 1 2 3; do
	read -r S3_PORT CONSOLE_PORT <<<"$(free_ports 2)"
	: >"$MINIO_LOG"
	# MINIO_CI_CD: allow a drive on the root file system, no update checks etc.
	MINIO_ROOT_USER="$S3_ACCESS_KEY" \
	MINIO_ROOT_PASSWORD="$S3_SECRET_KEY" \
	MINIO_BROWSER=off \
	MINIO_SITE_REGION="$REGION" \
	MINIO_UPDATE=off \
	MINIO_CI_CD=on \
	HOME="$DIR/minio" \
		setsid "$MINIO" server "$DIR/minio/data" \
		--address "127.0.0.1:$S3_PORT" \
		--console-address "127.0.0.1:$CONSOLE_PORT" \
		--quiet --anonymous \
		</dev/null >>"$MINIO_LOG" 2>&1 &
	MINIO_PID=$!
	record_pid "$MINIO_PID" minio
	rc=0
	wait_ready MinIO "$MINIO_PID" "$MINIO_LOG" minio_live "$S3_PORT" || rc=$?
	[[ $rc == 0 ]] && break
	[[ $rc == 2 && $attempt -lt 3 ]] || die "MinIO did not start"
	log "MinIO ports $S3_PORT/$CONSOLE_PORT were taken; retrying with other ports"
done

# Create the bucket with a SigV4-signed PUT (curl --aws-sigv4), then check it
# with a signed HEAD. Retried briefly: right after "live" MinIO may still be
# initialising its object layer and answer 503.
s3_curl() {
	curl -fsS -o /dev/null --max-time 5 \
		--aws-sigv4 "aws:amz:$REGION:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" "$@"
}
deadline=$((SECONDS + TIMEOUT))
until s3_curl -I "http://127.0.0.1:$S3_PORT/$BUCKET" 2>/dev/null; do
	s3_curl -X PUT "http://127.0.0.1:$S3_PORT/$BUCKET" 2>/dev/null || true
	if ((SECONDS >= deadline)); then
		log "could not create bucket $BUCKET; MinIO log ($MINIO_LOG):"
		tail -n 50 "$MINIO_LOG" >&2 || true
		s3_curl -X PUT "http://127.0.0.1:$S3_PORT/$BUCKET" || true
		die "bucket $BUCKET not created"
	fi
	sleep 0.2
done
log "MinIO ready on 127.0.0.1:$S3_PORT with bucket $BUCKET (pid $MINIO_PID)"

# ---- env.sh ---------------------------------------------------------------
cat >"$DIR/env.sh.tmp" <<EOF
# Written by deploy/testenv/start.sh; stop with deploy/testenv/stop.sh $DIR
export ENTREPOT_TEST_MONGODB_URL='mongodb://127.0.0.1:$MONGO_PORT/'
export ENTREPOT_TEST_S3_ENDPOINT='http://127.0.0.1:$S3_PORT'
export ENTREPOT_TEST_S3_ACCESS_KEY='$S3_ACCESS_KEY'
export ENTREPOT_TEST_S3_SECRET_KEY='$S3_SECRET_KEY'
export ENTREPOT_TEST_S3_BUCKET='$BUCKET'
export ENTREPOT_TEST_S3_REGION='$REGION'
export ENTREPOT_TEST_PIDS='$FERRETDB_PID $MINIO_PID'
EOF
mv -f "$DIR/env.sh.tmp" "$DIR/env.sh"
STARTED_OK=1
log "environment written to $DIR/env.sh"
echo "$DIR/env.sh"
