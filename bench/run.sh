#!/bin/sh
# bench/run.sh - load scenarios against atriumd and a bare libmicrohttpd
# server (bench/bare.c) built with the same flags and run in the same
# configuration, all in one run, printing requests/s, p99 latency and the
# ratio atriumd/bare. Not a test: it prints figures and never fails on them.
#
#   sh bench/run.sh                 every scenario
#   sh bench/run.sh healthz rss     only these (names: see SCENARIOS)
#
# Environment: BUILD (default ./build), BENCH_DURATION (wrk -d, default
# 10s), BENCH_CONNECTIONS (default 64), BENCH_WORKERS (default 2),
# BENCH_POLL (poll or epoll, default poll), BENCH_ROUNDS (default 3),
# BENCH_WF_EVENT and BENCH_WF_PATH (the workflow scenario, see there).
#
# Fairness: in a scenario every server is started first and left idle while
# another is measured; the wrk runs then alternate between them for
# BENCH_ROUNDS rounds and the median of each is reported, so drift in the
# machine's load hits all of them alike.
#
# Adding a scenario: write scenario_NAME using the helpers below (start_bare,
# start_atriumd, login_cookie, measure, median, report) and list NAME in
# SCENARIOS. Every daemon started is stopped at exit.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
ATRIUMD=$BUILD/atriumd
BARE=$BUILD/bench/bare
DUR=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNECTIONS:-64}
WORKERS=${BENCH_WORKERS:-2}
POLL=${BENCH_POLL:-poll}
ROUNDS=${BENCH_ROUNDS:-3}
THREADS=2
SCENARIOS="healthz rss auth_read plugin_route login login_mixed workflow pollmodes"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/atrium-bench-XXXXXX")
PIDS=""

stop_all() {
	for p in $PIDS; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in $PIDS; do
		wait "$p" 2>/dev/null || true
	done
	PIDS=""
}
cleanup() {
	stop_all
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
	echo "bench: $*" >&2
	exit 1
}

# ---- building ---------------------------------------------------------------

# bench/bare.c with the flags the Makefile gives the core.
build_bare() {
	mkdir -p "$BUILD/bench"
	${CC:-cc} -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE -O2 -g -Wall -Wextra \
	    -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	    -Wcast-qual -Wsign-compare -fno-common -fPIC \
	    $(pkg-config --cflags libmicrohttpd) "$ROOT/bench/bare.c" \
	    -o "$BARE" $(pkg-config --libs libmicrohttpd) -lpthread
}

# ---- daemons ----------------------------------------------------------------

# Waits for "listening on http://ADDR:PORT" in file $1; prints PORT.
wait_port() {
	i=0
	while [ $i -lt 200 ]; do
		port=$(sed -n 's/.*listening on http:\/\/[0-9.]*:\([0-9][0-9]*\).*/\1/p' "$1" | head -n1)
		if [ -n "$port" ]; then
			echo "$port"
			return 0
		fi
		sleep 0.05
		i=$((i + 1))
	done
	return 1
}

# start_bare NAME POLL: sets PID and PORT.
start_bare() {
	"$BARE" 0 "$WORKERS" "$2" >"$WORK/$1.out" 2>"$WORK/$1.err" &
	PID=$!
	PIDS="$PIDS $PID"
	PORT=$(wait_port "$WORK/$1.out") || die "bare server did not start"
}

# start_atriumd NAME ["[server] EXTRA"] ["TRAILING INI TEXT"]: a fresh
# database with the demo practice, workers=$WORKERS, poll=$POLL, port 0,
# the access log off unless EXTRA says otherwise. Sets PID, PORT, DB and
# DEMO (the --init-demo output, with the demo passwords).
start_atriumd() {
	name=$1
	mkdir -p "$WORK/$name/workflows"
	DB=$WORK/$name/atrium.db
	cat >"$WORK/$name/atrium.ini" <<EOF
[server]
address = 127.0.0.1
port = 0
workers = $WORKERS
poll = $POLL
themes_dir = $ROOT/themes
plugin_dir = $BUILD/plugins
${2:-access_log = off}

[database]
path = $DB

[workflows]
dir = $WORK/$name/workflows

${3:-}
EOF
	DEMO=$("$ATRIUMD" --config "$WORK/$name/atrium.ini" --init-demo \
	    2>>"$WORK/$name.err") ||
	    die "atriumd --init-demo failed for $name: $(cat "$WORK/$name.err")"
	run_atriumd "$name"
}

# (Re)starts atriumd NAME on its existing config and database.
run_atriumd() {
	"$ATRIUMD" --config "$WORK/$1/atrium.ini" >"$WORK/$1.out" \
	    2>>"$WORK/$1.err" &
	PID=$!
	PIDS="$PIDS $PID"
	PORT=$(wait_port "$WORK/$1.out") ||
	    die "atriumd $1 did not start: $(cat "$WORK/$1.err")"
}

stop_pid() {
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ')
}

# The demo password of account $1, from $DEMO.
demo_password() {
	echo "$DEMO" | sed -n "s/^  $1 \/ \(.*\)$/\1/p"
}

# login_cookie USER: signs in on $PORT, prints "atrium_session=...".
login_cookie() {
	pw=$(demo_password "$1")
	curl -s -o /dev/null -D - -H 'Content-Type: application/json' \
	    -d "{\"username\":\"$1\",\"password\":\"$pw\"}" \
	    "http://127.0.0.1:$PORT/api/auth/login" |
	    sed -n 's/^[Ss]et-[Cc]ookie: \(atrium_session=[^;]*\);.*/\1/p' |
	    head -n1
}

# A field of /proc/PID/status or smaps_rollup, in KiB.
proc_kib() {
	sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/$3"
}

# ---- load -------------------------------------------------------------------

# run_wrk URL [wrk options...]: one wrk run; sets RPS, P99 (ms), NON2XX and
# TOTAL.
run_wrk() {
	url=$1
	shift
	out=$WORK/wrk.out
	wrk -t"$THREADS" -c"$CONNS" -d"$DUR" --latency "$@" "$url" >"$out" 2>&1 ||
	    die "wrk failed: $(cat "$out")"
	RPS=$(sed -n 's/^Requests\/sec:[[:space:]]*\([0-9.]*\).*/\1/p' "$out")
	P99=$(awk '$1 == "99%" {
		v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
		if (u == "us") v /= 1000; else if (u == "s") v *= 1000;
		else if (u == "m") v *= 60000;
		printf "%.2f", v }' "$out")
	NON2XX=$(sed -n 's/.*Non-2xx or 3xx responses:[[:space:]]*\([0-9]*\).*/\1/p' "$out")
	NON2XX=${NON2XX:-0}
	TOTAL=$(sed -n 's/^[[:space:]]*\([0-9]*\) requests in.*/\1/p' "$out")
	[ -n "$RPS" ] || die "no figures from wrk: $(cat "$out")"
}

# measure KEY URL [wrk options...]: one run, remembered under KEY.
measure() {
	key=$1
	shift
	run_wrk "$@"
	echo "$RPS $P99 $NON2XX" >>"$WORK/res.$key"
}

# median KEY: sets RPS, P99 and NON2XX to the medians of KEY's runs.
median() {
	f=$WORK/res.$1
	RPS=$(awk '{ print $1 }' "$f" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
	P99=$(awk '{ print $2 }' "$f" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
	NON2XX=$(awk '{ s += $3 } END { print s + 0 }' "$f")
}

# report LABEL [BASE_RPS]: one row from RPS/P99/NON2XX.
report() {
	if [ -n "${2:-}" ]; then
		ratio=$(awk -v a="$RPS" -v b="$2" 'BEGIN { printf "%.2f", a / b }')
	else
		ratio="-"
	fi
	printf '  %-46s %8.0f req/s  p99 %7s ms  ratio %5s' "$1" "$RPS" "$P99" "$ratio"
	[ "$NON2XX" = 0 ] || printf '  (%s non-2xx)' "$NON2XX"
	printf '\n'
}

section() {
	printf '\n== %s\n' "$1"
}

ratio_of() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}

# ---- scenarios --------------------------------------------------------------

# /healthz against the bare server, with the access log off and on.
scenario_healthz() {
	section "GET /healthz vs bare (-c$CONNS, $DUR x $ROUNDS, $POLL, $WORKERS workers)"
	start_bare bare "$POLL"
	B=$PORT
	start_atriumd health-off "access_log = off"
	OFF=$PORT
	start_atriumd health-on "access_log = on"
	ON=$PORT
	r=0
	while [ $r -lt "$ROUNDS" ]; do
		measure h-bare "http://127.0.0.1:$B/"
		measure h-off "http://127.0.0.1:$OFF/healthz"
		measure h-on "http://127.0.0.1:$ON/healthz"
		r=$((r + 1))
	done
	median h-bare
	BARE_RPS=$RPS
	report "bare libmicrohttpd GET /"
	median h-off
	report "atriumd GET /healthz (access_log = off)" "$BARE_RPS"
	median h-on
	report "atriumd GET /healthz (access_log = on)" "$BARE_RPS"
	stop_all
}

# Resident memory: just started, after a load run, and idle again. VmRSS
# counts every shared-library page the process touched; RssAnon is its own
# memory; Pss shares library pages among the processes using them.
scenario_rss() {
	section "atriumd memory (target: idle RSS <= 10 MB)"
	start_atriumd rss
	sleep 1
	show_rss "idle after start"
	run_wrk "http://127.0.0.1:$PORT/healthz"
	show_rss "right after $DUR of /healthz load"
	sleep 2
	show_rss "idle 2 s later"
	stop_pid "$PID"
}

show_rss() {
	printf '  %-36s VmRSS %6s KiB  RssAnon %6s KiB  Pss %6s KiB\n' "$1" \
	    "$(proc_kib "$PID" VmRSS status)" \
	    "$(proc_kib "$PID" RssAnon status)" \
	    "$(proc_kib "$PID" Pss smaps_rollup)"
}

# An authenticated JSON read: session lookup plus two indexed reads. GET
# /api/notifications, not /api/auth/me: /me rotates the CSRF token (a write
# per request), which would measure SQLite's write lock, not a read.
scenario_auth_read() {
	section "authenticated JSON read: GET /api/notifications (target >= 0.7x bare)"
	start_bare bare-auth "$POLL"
	B=$PORT
	start_atriumd auth
	COOKIE=$(login_cookie patient.demo)
	[ -n "$COOKIE" ] || die "cannot sign in patient.demo"
	r=0
	while [ $r -lt "$ROUNDS" ]; do
		measure a-bare "http://127.0.0.1:$B/"
		measure a-atr "http://127.0.0.1:$PORT/api/notifications" -H "Cookie: $COOKIE"
		r=$((r + 1))
	done
	median a-bare
	BARE_RPS=$RPS
	report "bare libmicrohttpd GET /"
	median a-atr
	report "atriumd GET /api/notifications (signed in)" "$BARE_RPS"
	stop_all
}

# A plugin route next to the core's own routes, same daemon.
scenario_plugin_route() {
	section "plugin route: GET /api/scheduling/types (target: <= 5% over core)"
	if [ ! -f "$BUILD/plugins/scheduling.so" ]; then
		echo "  skipped: $BUILD/plugins/scheduling.so is not built"
		return 0
	fi
	start_bare bare-plugin "$POLL"
	B=$PORT
	start_atriumd plugin "access_log = off" "[plugins]
scheduling = on"
	COOKIE=$(login_cookie patient.demo)
	r=0
	while [ $r -lt "$ROUNDS" ]; do
		measure p-bare "http://127.0.0.1:$B/"
		measure p-health "http://127.0.0.1:$PORT/healthz"
		measure p-core "http://127.0.0.1:$PORT/api/notifications" -H "Cookie: $COOKIE"
		measure p-plugin "http://127.0.0.1:$PORT/api/scheduling/types" -H "Cookie: $COOKIE"
		r=$((r + 1))
	done
	median p-bare
	BARE_RPS=$RPS
	report "bare libmicrohttpd GET /"
	median p-health
	report "atriumd GET /healthz (public, core)" "$BARE_RPS"
	median p-core
	CORE_RPS=$RPS
	report "atriumd GET /api/notifications (signed in, core)" "$BARE_RPS"
	median p-plugin
	report "atriumd GET /api/scheduling/types (signed in)" "$BARE_RPS"
	printf '  plugin route / core signed-in route: %s\n' "$(ratio_of "$RPS" "$CORE_RPS")"
	stop_all
}

# Sign-ins per second at the production argon2id cost (the defaults of
# config/atrium.ini, hash_threads = 1), with 4 connections so the hash
# queue never overflows.
login_script() {
	pw=$(demo_password patient.demo)
	cat >"$WORK/login.lua" <<EOF
wrk.method = "POST"
wrk.body = '{"username":"patient.demo","password":"$pw"}'
wrk.headers["Content-Type"] = "application/json"
EOF
}

scenario_login() {
	section "sign-in throughput (argon2id at the config defaults)"
	start_atriumd login
	login_script
	saved=$CONNS
	CONNS=4
	run_wrk "http://127.0.0.1:$PORT/api/auth/login" -s "$WORK/login.lua"
	CONNS=$saved
	secs=$(echo "$DUR" | sed 's/s$//')
	ok=$((TOTAL - NON2XX))
	printf '  %-46s %8s logins/s  p99 %7s ms  (%s refused)\n' \
	    "POST /api/auth/login, 4 connections" \
	    "$(awk -v n="$ok" -v s="$secs" 'BEGIN { printf "%.1f", n / s }')" \
	    "$P99" "$NON2XX"
	stop_pid "$PID"
}

# The authenticated read's p99 alone and while ~20 sign-ins/s arrive
# (a loop of curl sign-ins 50 ms apart, each with its own process).
scenario_login_mixed() {
	section "authenticated read while ~20 sign-ins/s arrive"
	start_atriumd mixed
	COOKIE=$(login_cookie patient.demo)
	run_wrk "http://127.0.0.1:$PORT/api/notifications" -H "Cookie: $COOKIE"
	report "GET /api/notifications alone"
	pw=$(demo_password staff.demo)
	before=$(sqlite3 "$DB" "SELECT COUNT(*) FROM sessions")
	(
		while :; do
			curl -s -o /dev/null -H 'Content-Type: application/json' \
			    -d "{\"username\":\"staff.demo\",\"password\":\"$pw\"}" \
			    "http://127.0.0.1:$PORT/api/auth/login" &
			sleep 0.05
		done
	) &
	LOOP=$!
	run_wrk "http://127.0.0.1:$PORT/api/notifications" -H "Cookie: $COOKIE"
	kill "$LOOP" 2>/dev/null || true
	wait "$LOOP" 2>/dev/null || true
	report "GET /api/notifications with sign-ins"
	sleep 1
	after=$(sqlite3 "$DB" "SELECT COUNT(*) FROM sessions")
	printf '  sign-ins completed meanwhile: %s\n' "$((after - before))"
	stop_pid "$PID"
}

# Cost of one before_ handler: the same route without any workflow script
# and with one empty handler on BENCH_WF_EVENT. BENCH_WF_PATH must be a GET
# route that emits that event (run with the scheduling plugin on).
scenario_workflow() {
	section "workflow handler cost"
	if [ -z "${BENCH_WF_EVENT:-}" ] || [ -z "${BENCH_WF_PATH:-}" ]; then
		echo "  skipped: set BENCH_WF_EVENT and BENCH_WF_PATH to a GET route"
		echo "  that emits a before_ event (none of the core's GET routes do)"
		return 0
	fi
	start_atriumd wf-no "access_log = off" "[plugins]
scheduling = on"
	NO=$PORT
	C_NO=$(login_cookie patient.demo)
	start_atriumd wf-yes "access_log = off" "[plugins]
scheduling = on"
	stop_pid "$PID"
	printf 'atrium.on("%s", function(e) end)\n' "$BENCH_WF_EVENT" \
	    >"$WORK/wf-yes/workflows/bench.lua"
	run_atriumd wf-yes
	YES=$PORT
	C_YES=$(login_cookie patient.demo)
	r=0
	while [ $r -lt "$ROUNDS" ]; do
		measure wf-no "http://127.0.0.1:$NO$BENCH_WF_PATH" -H "Cookie: $C_NO"
		measure wf-yes "http://127.0.0.1:$YES$BENCH_WF_PATH" -H "Cookie: $C_YES"
		r=$((r + 1))
	done
	median wf-no
	NO_RPS=$RPS
	report "GET $BENCH_WF_PATH, no handler"
	median wf-yes
	report "GET $BENCH_WF_PATH, one empty handler" "$NO_RPS"
	# With the workers saturated, each request costs WORKERS/RPS seconds
	# of worker time.
	printf '  added per request: %s us of worker time (target <= 2)\n' \
	    "$(awk -v a="$RPS" -v b="$NO_RPS" -v w="$WORKERS" \
		'BEGIN { printf "%.2f", (w / a - w / b) * 1e6 }')"
	stop_all
}

# poll against epoll at 256 connections, bare and atriumd.
scenario_pollmodes() {
	section "poll vs epoll at 256 connections ($DUR x $ROUNDS)"
	saved=$CONNS
	saved_poll=$POLL
	CONNS=256
	start_bare bare-poll poll
	BP=$PORT
	start_bare bare-epoll epoll
	BE=$PORT
	POLL=poll
	start_atriumd atr-poll
	AP=$PORT
	POLL=epoll
	start_atriumd atr-epoll
	AE=$PORT
	POLL=$saved_poll
	r=0
	while [ $r -lt "$ROUNDS" ]; do
		measure m-bp "http://127.0.0.1:$BP/"
		measure m-be "http://127.0.0.1:$BE/"
		measure m-ap "http://127.0.0.1:$AP/healthz"
		measure m-ae "http://127.0.0.1:$AE/healthz"
		r=$((r + 1))
	done
	CONNS=$saved
	median m-bp
	B_POLL=$RPS
	report "bare GET / (poll)"
	median m-be
	B_EPOLL=$RPS
	report "bare GET / (epoll)"
	median m-ap
	A_POLL=$RPS
	report "atriumd GET /healthz (poll)" "$B_POLL"
	median m-ae
	A_EPOLL=$RPS
	report "atriumd GET /healthz (epoll)" "$B_EPOLL"
	awk -v p="$A_POLL" -v e="$A_EPOLL" 'BEGIN {
		d = (e - p) / p * 100
		if (d > 5) printf "  epoll wins by %.0f%% for atriumd\n", d
		else if (d < -5) printf "  poll wins by %.0f%% for atriumd\n", -d
		else printf "  no clear winner for atriumd (epoll %+.0f%%)\n", d }'
	stop_all
}

# ---- main -------------------------------------------------------------------

command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
command -v curl >/dev/null || die "curl is not installed"
command -v sqlite3 >/dev/null || die "sqlite3 is not installed"
[ -x "$ATRIUMD" ] || die "$ATRIUMD is missing: run make first"
build_bare

echo "atrium benchmark: $(nproc) CPUs, wrk -t$THREADS -c$CONNS -d$DUR x $ROUNDS rounds, $WORKERS workers, $POLL"
for s in ${*:-$SCENARIOS}; do
	case " $SCENARIOS " in
	*" $s "*) "scenario_$s" ;;
	*) die "unknown scenario '$s' (have: $SCENARIOS)" ;;
	esac
done
