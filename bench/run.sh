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
# BENCH_POLL (poll or epoll, default poll), BENCH_ROUNDS (default 3).
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
HZ=$(getconf CLK_TCK)
SCENARIOS="healthz rss auth_read plugin_route login login_mixed workflow pollmodes sched_search sched_book"

WORK=$(mktemp -d)
PLUGIN_DIR=$BUILD/plugins
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

# bench/ping.c as a plugin, the way the Makefile builds plugins, into a
# copy of the built plugin folder; sets PLUGIN_DIR to that copy.
build_ping() {
	mkdir -p "$WORK/plugins"
	if [ -d "$BUILD/plugins" ]; then
		cp -R "$BUILD/plugins/." "$WORK/plugins/"
	fi
	${CC:-cc} -std=c11 -D_DEFAULT_SOURCE -O2 -g -Wall -Wextra -Werror \
	    -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wcast-qual \
	    -Wsign-compare -fno-common -fPIC -fvisibility=hidden \
	    -I"$ROOT/sdk/include" $(pkg-config --cflags jansson) -shared \
	    -Wl,-z,defs -o "$WORK/plugins/benchping.so" "$ROOT/bench/ping.c" \
	    $(pkg-config --libs jansson)
	PLUGIN_DIR=$WORK/plugins
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
	echo "$PORT $PID" >>"$WORK/pids"
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
plugin_dir = $PLUGIN_DIR
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
	echo "$PORT $PID" >>"$WORK/pids"
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
# TOTAL, and clears US.
run_wrk() {
	url=$1
	shift
	out=$WORK/wrk.out
	US=
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

# CPU time a process (all its threads) has used, in clock ticks.
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# measure KEY URL [wrk options...]: one run, remembered under KEY with the
# server's CPU time per request (found by the URL's port), which on a busy
# machine is steadier than requests/s.
measure() {
	key=$1
	shift
	mport=$(echo "$1" | sed 's|^http://[0-9.]*:\([0-9]*\).*|\1|')
	mpid=$(awk -v p="$mport" '$1 == p { print $2 }' "$WORK/pids" | tail -n1)
	t0=$(cpu_ticks "$mpid")
	run_wrk "$@"
	t1=$(cpu_ticks "$mpid")
	US=$(awk -v t="$((t1 - t0))" -v hz="$HZ" -v n="$TOTAL" \
	    'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
	echo "$RPS $P99 $NON2XX $US" >>"$WORK/res.$key"
}

# median KEY: sets RPS, P99, US (CPU microseconds per request) to the
# medians of KEY's runs and NON2XX to the sum.
median() {
	f=$WORK/res.$1
	RPS=$(col_median "$f" 1)
	P99=$(col_median "$f" 2)
	US=$(col_median "$f" 4)
	NON2XX=$(awk '{ s += $3 } END { print s + 0 }' "$f")
}

col_median() {
	awk -v c="$2" '{ print $c }' "$1" | sort -n |
	    awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# report LABEL [BASE_RPS BASE_US]: one row from RPS/P99/US/NON2XX; with a
# base, the ratios of throughput and of CPU per request (base/this).
report() {
	if [ -n "${2:-}" ]; then
		ratio=$(ratio_of "$RPS" "$2")
		cratio=$(ratio_of "$3" "$US")
	else
		ratio="-"
		cratio="-"
	fi
	printf '  %-44s %7.0f req/s  p99 %7s ms  %6s us/req  ratio %4s  cpu %4s' \
	    "$1" "$RPS" "$P99" "${US:--}" "$ratio" "$cratio"
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
	BARE_US=$US
	report "bare libmicrohttpd GET /"
	median h-off
	report "atriumd GET /healthz (access_log = off)" "$BARE_RPS" "$BARE_US"
	median h-on
	report "atriumd GET /healthz (access_log = on)" "$BARE_RPS" "$BARE_US"
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
	section "authenticated JSON read (target >= 0.7x bare)"
	start_bare bare-auth "$POLL"
	B=$PORT
	start_atriumd auth
	COOKIE=$(login_cookie patient.demo)
	[ -n "$COOKIE" ] || die "cannot sign in patient.demo"
	r=0
	while [ $r -lt "$ROUNDS" ]; do
		measure a-bare "http://127.0.0.1:$B/"
		measure a-me "http://127.0.0.1:$PORT/api/auth/me" -H "Cookie: $COOKIE"
		measure a-atr "http://127.0.0.1:$PORT/api/notifications" -H "Cookie: $COOKIE"
		r=$((r + 1))
	done
	median a-bare
	BARE_RPS=$RPS
	BARE_US=$US
	report "bare libmicrohttpd GET /"
	median a-me
	report "atriumd GET /api/auth/me (session + one indexed read)" "$BARE_RPS" "$BARE_US"
	median a-atr
	report "atriumd GET /api/notifications (session + list + count)" "$BARE_RPS" "$BARE_US"
	stop_all
}

# Plugin dispatch: bench/ping.c's GET /api/benchping does what the core's
# GET /healthz does (SELECT 1, a small JSON object), so in one daemon their
# ratio is the cost of going through the plugin host API. With the
# scheduling plugin built, its GET /types is shown too, next to a core
# signed-in read (different work: for reference only).
scenario_plugin_route() {
	section "plugin route vs the core's own (target: plugin dispatch <= 5%)"
	build_ping
	start_bare bare-plugin "$POLL"
	B=$PORT
	sched=off
	[ -f "$PLUGIN_DIR/scheduling.so" ] && sched=on
	start_atriumd plugin "access_log = off" "[plugins]
benchping = on
scheduling = $sched"
	COOKIE=$(login_cookie patient.demo)
	r=0
	while [ $r -lt "$ROUNDS" ]; do
		measure p-bare "http://127.0.0.1:$B/"
		measure p-health "http://127.0.0.1:$PORT/healthz"
		measure p-ping "http://127.0.0.1:$PORT/api/benchping"
		if [ $sched = on ]; then
			measure p-core "http://127.0.0.1:$PORT/api/notifications" -H "Cookie: $COOKIE"
			measure p-sched "http://127.0.0.1:$PORT/api/scheduling/types" -H "Cookie: $COOKIE"
		fi
		r=$((r + 1))
	done
	median p-bare
	BARE_RPS=$RPS
	BARE_US=$US
	report "bare libmicrohttpd GET /"
	median p-health
	HEALTH_RPS=$RPS
	HEALTH_US=$US
	report "atriumd core GET /healthz" "$BARE_RPS" "$BARE_US"
	median p-ping
	report "atriumd plugin GET /api/benchping (same work)" "$BARE_RPS" "$BARE_US"
	printf '  plugin dispatch: %s us of CPU per request more than /healthz (%s%%)\n' \
	    "$(awk -v a="$US" -v b="$HEALTH_US" 'BEGIN { printf "%.1f", a - b }')" \
	    "$(awk -v a="$US" -v b="$HEALTH_US" 'BEGIN { printf "%+.1f", (a / b - 1) * 100 }')"
	if [ $sched = on ]; then
		median p-core
		report "atriumd core GET /api/notifications (signed in)" "$BARE_RPS" "$BARE_US"
		median p-sched
		report "atriumd GET /api/scheduling/types (signed in)" "$BARE_RPS" "$BARE_US"
	else
		echo "  scheduling plugin not built: its route is skipped"
	fi
	stop_all
	PLUGIN_DIR=$BUILD/plugins
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

# The authenticated read's p99 alone and while 20 sign-ins/s arrive
# (bench/login_load.py: one process, a sign-in every 50 ms on a new
# connection), the two alternating for $ROUNDS rounds; medians, and the
# ratio of the p99s.
scenario_login_mixed() {
	section "authenticated read while 20 sign-ins/s arrive ($DUR x $ROUNDS)"
	command -v python3 >/dev/null || {
		echo "  skipped: python3 is not installed (bench/login_load.py)"
		return 0
	}
	start_atriumd mixed
	COOKIE=$(login_cookie patient.demo)
	pw=$(demo_password staff.demo)
	secs=$(echo "$DUR" | sed 's/s$//')
	url="http://127.0.0.1:$PORT/api/notifications"
	: >"$WORK/lm.counts"
	r=0
	while [ $r -lt "$ROUNDS" ]; do
		measure lm-alone "$url" -H "Cookie: $COOKIE"
		python3 "$ROOT/bench/login_load.py" "$PORT" staff.demo "$pw" \
		    20 "$secs" >>"$WORK/lm.counts" &
		LOOP=$!
		measure lm-mixed "$url" -H "Cookie: $COOKIE"
		# The sign-ins still queued would run into the next "alone"
		# run: it waits for them.
		wait "$LOOP" || true
		sleep 1
		r=$((r + 1))
	done
	median lm-alone
	ALONE_P99=$P99
	report "GET /api/notifications alone"
	median lm-mixed
	report "GET /api/notifications with sign-ins"
	awk '{ s += $3; o += $5; f += $7
		for (i = 8; i <= NF; i++) { split($i, kv, ":"); n[kv[1]] += kv[2] } }
	    END { w = ""; for (k in n) w = w " " k ": " n[k]
		printf "  sign-ins: %d sent, %d signed in, %d refused%s\n",
		    s, o, f, (f ? " (" substr(w, 2) ")" : "") }' "$WORK/lm.counts"
	awk -v a="$ALONE_P99" -v m="$P99" 'BEGIN {
		printf "  p99 with sign-ins / p99 alone (medians): %.2fx (target <= 2x)\n", m / a }'
	stop_pid "$PID"
}

# The workflow handler cost is measured by bench_workflow, below.
scenario_workflow() {
	bench_workflow
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
	B_POLL_US=$US
	report "bare GET / (poll)"
	median m-be
	B_EPOLL=$RPS
	B_EPOLL_US=$US
	report "bare GET / (epoll)"
	median m-ap
	A_POLL=$RPS
	A_POLL_US=$US
	report "atriumd GET /healthz (poll)" "$B_POLL" "$B_POLL_US"
	median m-ae
	A_EPOLL=$RPS
	A_EPOLL_US=$US
	report "atriumd GET /healthz (epoll)" "$B_EPOLL" "$B_EPOLL_US"
	awk -v p="$A_POLL" -v e="$A_EPOLL" 'BEGIN {
		d = (e - p) / p * 100
		if (d > 5) printf "  epoll wins by %.0f%% for atriumd\n", d
		else if (d < -5) printf "  poll wins by %.0f%% for atriumd\n", -d
		else printf "  no clear winner for atriumd (epoll %+.0f%%)\n", d }'
	stop_all
}

# ---- scheduling: slot search and booking on a busy practice -----------------

# Both scenarios run atriumd on a copy of one seeded practice
# (bench/sched_seed.py: 20 providers with weekday hours, 40,000 patients,
# 1,000,000 appointments, 256 signed-in patient sessions), in the practice
# zone below; it is seeded once per run of this script, in about 10 s.
SCHED_TZ=${BENCH_SCHED_TZ:-America/New_York}

sched_ini() {
	printf '[plugins]\nscheduling = on\n\n[practice]\ntimezone = %s\n\n' \
	    "$SCHED_TZ"
	printf '[plugin.scheduling]\n; the booking run needs a year of free slots\n'
	printf 'max_days_ahead = 400\n'
}

# Can the scheduling scenarios run? Prints why not and returns 1.
sched_ready() {
	if [ ! -f "$PLUGIN_DIR/scheduling.so" ]; then
		echo "  skipped: $PLUGIN_DIR/scheduling.so is not built"
		return 1
	fi
	if ! command -v python3 >/dev/null; then
		echo "  skipped: python3 is not installed (bench/sched_seed.py)"
		return 1
	fi
	return 0
}

# sched_start NAME: atriumd NAME on a copy of the seeded practice, seeding
# it on first use. Sets PID, PORT and DB; the sessions are in
# $WORK/sched-sessions ("TOKEN CSRF"), the free starts used by sched_book
# in $WORK/sched-free ("PROVIDER TYPE START", days 31-399, shuffled).
sched_start() {
	start_atriumd "$1" "access_log = off" "$(sched_ini)"
	stop_pid "$PID"
	if [ ! -f "$WORK/sched-seed.db" ]; then
		python3 "$ROOT/bench/sched_seed.py" "$DB" --tz "$SCHED_TZ" \
		    --providers 20 --patients 40000 --appointments 1000000 \
		    --sessions 256 --sessions-out "$WORK/sched-sessions" \
		    --free-out "$WORK/sched-free" --free-from 31 \
		    --free-to 399 >"$WORK/sched-seed.out" 2>&1 ||
		    die "bench/sched_seed.py failed: $(cat "$WORK/sched-seed.out")"
		sed 's/^/  /' "$WORK/sched-seed.out"
		cp "$DB" "$WORK/sched-seed.db"
	else
		rm -f "$DB" "$DB-wal" "$DB-shm"
		cp "$WORK/sched-seed.db" "$DB"
	fi
	# The seed and the copies leave hundreds of MB to write back; left
	# to the kernel, that lands inside the measured runs and slows every
	# fsync the bookings make.
	sync
	run_atriumd "$1"
}

# sched_measure KEY URL [wrk options...]: measure, plus the p50 (ms).
sched_measure() {
	measure "$@"
	awk '$1 == "50%" {
		v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
		if (u == "us") v /= 1000; else if (u == "s") v *= 1000;
		printf "%.2f\n", v }' "$WORK/wrk.out" >>"$WORK/p50.$1"
}

# sched_row LABEL [BASE_RPS BASE_US]: like report, with the median p50
# and the ratios to three significant digits (they are small here).
sched_row() {
	if [ -n "${2:-}" ]; then
		ratio=$(awk -v a="$RPS" -v b="$2" 'BEGIN { printf "%.3g", a / b }')
		cratio=$(awk -v a="$3" -v b="$US" 'BEGIN { printf "%.3g", a / b }')
	else
		ratio="-"
		cratio="-"
	fi
	printf '  %-40s %6.0f req/s  p50 %7s ms  p99 %7s ms  %7s us/req  ratio %6s  cpu %6s' \
	    "$1" "$RPS" "$P50" "$P99" "$US" "$ratio" "$cratio"
	[ "$NON2XX" = 0 ] || printf '  (%s non-2xx)' "$NON2XX"
	printf '\n'
}

sched_median() {
	median "$1"
	P50=$(col_median "$WORK/p50.$1" 1)
}

sched_load() {
	printf '  load average %s: %s\n' "$1" \
	    "$(cut -d' ' -f1-3 /proc/loadavg)"
}

# Slot search: GET /slots for one visit type with no provider, so one
# request covers all 20 providers, over 30 days from today (the practice's
# date), with the route's default limit (2000 slots; ~6,000 are open). The
# latency figures are with one connection (a request's own time); with
# $CONNS connections p50/p99 are mostly queueing (connections / req/s).
# One run each with limit=200 (book.js shows the first 200) and limit=1
# (the same search without building a long answer) splits the time
# between finding the slots and writing them out.
scenario_sched_search() {
	section "slot search: 20 providers x 30 days, 1,000,000 appointments (target p99 <= 5 ms)"
	sched_ready || return 0
	sched_load before
	start_bare bare-ss "$POLL"
	B=$PORT
	sched_start sched-search
	ss_type=$(sqlite3 "$DB" "SELECT id FROM scheduling_types WHERE name = 'Telehealth check-in'")
	read -r ss_tok ss_csrf <"$WORK/sched-sessions"
	ss_from=$(TZ=$SCHED_TZ date +%F)
	ss_to=$(TZ=$SCHED_TZ date -d '+29 days' +%F)
	ss_url="http://127.0.0.1:$PORT/api/scheduling/slots?type=$ss_type&from=$ss_from&to=$ss_to"
	COOKIE="atrium_session=$ss_tok"
	curl -s -o "$WORK/slots.json" -H "Cookie: $COOKIE" "$ss_url"
	printf '  GET %s\n  answer: %s slots, %s bytes, truncated=%s\n' \
	    "/api/scheduling/slots?type=$ss_type&from=$ss_from&to=$ss_to" \
	    "$(grep -o '"start"' "$WORK/slots.json" | wc -l)" \
	    "$(wc -c <"$WORK/slots.json")" \
	    "$(sed -n 's/.*"truncated":\([a-z]*\).*/\1/p' "$WORK/slots.json")"
	saved=$CONNS
	saved_threads=$THREADS
	r=0
	while [ $r -lt "$ROUNDS" ]; do
		CONNS=1
		THREADS=1
		sched_measure ss-bare1 "http://127.0.0.1:$B/"
		sched_measure ss-atr1 "$ss_url" -H "Cookie: $COOKIE"
		CONNS=$saved
		THREADS=$saved_threads
		sched_measure ss-bare "http://127.0.0.1:$B/"
		sched_measure ss-atr "$ss_url" -H "Cookie: $COOKIE"
		r=$((r + 1))
	done
	CONNS=1
	THREADS=1
	sched_measure ss-atr1-200 "$ss_url&limit=200" -H "Cookie: $COOKIE"
	sched_measure ss-atr1-lim "$ss_url&limit=1" -H "Cookie: $COOKIE"
	CONNS=$saved
	THREADS=$saved_threads
	echo "  1 connection (latency):"
	sched_median ss-bare1
	BARE_RPS=$RPS
	BARE_US=$US
	sched_row "bare libmicrohttpd GET /"
	sched_median ss-atr1
	sched_row "atriumd GET /slots (20 x 30 days)" "$BARE_RPS" "$BARE_US"
	sched_median ss-atr1-200
	sched_row "the same, limit=200 (one run)" "$BARE_RPS" "$BARE_US"
	sched_median ss-atr1-lim
	sched_row "the same, limit=1 (one run)" "$BARE_RPS" "$BARE_US"
	echo "  $CONNS connections (throughput):"
	sched_median ss-bare
	BARE_RPS=$RPS
	BARE_US=$US
	sched_row "bare libmicrohttpd GET /"
	sched_median ss-atr
	sched_row "atriumd GET /slots (20 x 30 days)" "$BARE_RPS" "$BARE_US"
	sched_load after
	stop_all
}

# Booking throughput: POST /api/scheduling/appointments with
# bench/sched_book.lua, every request a different free Telehealth slot
# (each wrk thread walks its own share of $WORK/sched-free, each round its
# own part of it) and one of 256 signed-in patients in turn. A booking
# that is not 201 counts as a failure. Afterwards the database must hold
# exactly the bookings answered 201, each with its slot claims.
scenario_sched_book() {
	section "booking throughput: POST /api/scheduling/appointments (target >= 500 bookings/s)"
	sched_ready || return 0
	sched_load before
	start_bare bare-sb "$POLL"
	B=$PORT
	sched_start sched-book
	seeded=$(sqlite3 "$DB" "SELECT MAX(id) FROM scheduling_appointments")
	secs=$(echo "$DUR" | sed 's/s$//')
	per=$(($(wc -l <"$WORK/sched-free") / ROUNDS))
	export SCHED_BOOK_SESSIONS="$WORK/sched-sessions"
	export SCHED_BOOK_THREADS="$THREADS"
	: >"$WORK/sb.counts"
	r=0
	while [ $r -lt "$ROUNDS" ]; do
		sed -n "$((r * per + 1)),$(((r + 1) * per))p" "$WORK/sched-free" \
		    >"$WORK/sched-free.$r"
		export SCHED_BOOK_SLOTS="$WORK/sched-free.$r"
		sched_measure sb-bare "http://127.0.0.1:$B/"
		sched_measure sb-atr "http://127.0.0.1:$PORT/api/scheduling/appointments" \
		    -s "$ROOT/bench/sched_book.lua"
		sed -n 's/^sched_book: //p' "$WORK/wrk.out" >>"$WORK/sb.counts"
		r=$((r + 1))
	done
	sched_median sb-bare
	BARE_RPS=$RPS
	BARE_US=$US
	sched_row "bare libmicrohttpd GET /"
	sched_median sb-atr
	sched_row "atriumd POST /appointments" "$BARE_RPS" "$BARE_US"
	# "created N conflict N other N exhausted N" per round
	bps=$(awk -v s="$secs" '{ print $2 / s }' "$WORK/sb.counts" | sort -n |
	    awk '{ v[NR] = $1 } END { printf "%.0f", v[int((NR + 1) / 2)] }')
	set -- $(awk '{ c += $2; k += $4; o += $6; e += $8 }
	    END { print c + 0, k + 0, o + 0, e + 0 }' "$WORK/sb.counts")
	printf '  bookings/s (201s per second, median of %s runs): %s\n' "$ROUNDS" "$bps"
	printf '  answers over all runs: %s created, %s conflict, %s other, %s after running out of slots\n' \
	    "$1" "$2" "$3" "$4"
	sleep 1
	made=$(sqlite3 "$DB" "SELECT COUNT(*) FROM scheduling_appointments WHERE id > $seeded")
	bad=$(sqlite3 "$DB" "SELECT (SELECT COUNT(*) FROM scheduling_slot_claims) - (SELECT COALESCE(SUM((end_utc - start_utc) / 300), 0) FROM scheduling_appointments WHERE status IN ('pending','booked','arrived','checked-in'))")
	# Requests in flight when wrk stops (at most one per connection) are
	# booked but their 201 is not counted.
	if [ "$made" -ge "$1" ] && [ "$made" -le $(($1 + CONNS * ROUNDS)) ] &&
	    [ "$bad" = 0 ]; then
		printf '  database: %s new appointments (%s answered after wrk stopped), slot claims consistent\n' \
		    "$made" "$((made - $1))"
	else
		printf '  database: MISMATCH: %s new appointments for %s created answers; claims off by %s\n' \
		    "$made" "$1" "$bad"
	fi
	unset SCHED_BOOK_SLOTS SCHED_BOOK_SESSIONS SCHED_BOOK_THREADS
	sched_load after
	stop_all
}

# ---- workflow handler cost, in process and over HTTP (bench_workflow) -------

# The cost of one simple before_ handler per request (scenario "workflow"):
# - events_emit() as a request calls it, with no handler and with one empty
#   before_ handler, payload shaped like appointment.before_book
#   (bench/workflow_emit.c linked with libcore.a; wall and CPU time, 1 and
#   2 threads);
# - over HTTP, POST /api/scheduling/appointments, the only route that emits
#   a before_ event, and one that books: to keep its state fixed both
#   daemons refuse every booking with one rule, and one of them runs an
#   empty handler first. The difference in server CPU per request is one
#   handler's cost as a request pays it; it is far below this route's
#   run-to-run noise, which is printed next to it.
bench_workflow() {
	section "workflow handler cost: events_emit() in process"
	[ -f "$BUILD/libcore.a" ] || die "$BUILD/libcore.a is missing: run make"
	${CC:-cc} -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE -O2 -g -Wall \
	    -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	    -Wcast-qual -Wsign-compare -fno-common -fPIC \
	    -I"$ROOT/sdk/include" -I"$ROOT/core" \
	    $(pkg-config --cflags libmicrohttpd sqlite3 inih jansson lua5.4 \
		libsodium liboath libqrencode libcurl) \
	    "$ROOT/bench/workflow_emit.c" "$BUILD/libcore.a" \
	    -o "$BUILD/bench/workflow_emit" \
	    $(pkg-config --libs libmicrohttpd sqlite3 inih jansson lua5.4 \
		libsodium liboath libqrencode libcurl) \
	    -lcrack -ldl -lpthread -lm
	"$BUILD/bench/workflow_emit" 100000 "$WORKERS" 5

	section "workflow handler cost: POST /api/scheduling/appointments, refused by a rule"
	if [ ! -f "$BUILD/plugins/scheduling.so" ]; then
		echo "  skipped: $BUILD/plugins/scheduling.so is not built"
		return 0
	fi
	deny='atrium.on("appointment.before_book", function(ev) return "bench deny" end)'
	mkdir -p "$WORK/wf-h1/workflows" "$WORK/wf-h2/workflows"
	printf '%s\n' "$deny" >"$WORK/wf-h1/workflows/20-deny.lua"
	printf '%s\n' "$deny" >"$WORK/wf-h2/workflows/20-deny.lua"
	printf 'atrium.on("appointment.before_book", function(ev) end)\n' \
	    >"$WORK/wf-h2/workflows/10-empty.lua"
	for n in h1 h2; do
		start_atriumd "wf-$n" "access_log = off" "[plugins]
scheduling = on"
		wf_booking_script "wf-$n" || return 0
		eval "WF_PORT_$n=\$PORT"
	done
	r=0
	while [ $r -lt "$ROUNDS" ]; do
		measure wf-h1 "http://127.0.0.1:$WF_PORT_h1/api/scheduling/appointments" -s "$WORK/wf-h1.lua"
		measure wf-h2 "http://127.0.0.1:$WF_PORT_h2/api/scheduling/appointments" -s "$WORK/wf-h2.lua"
		r=$((r + 1))
	done
	median wf-h1
	H1_RPS=$RPS
	H1_US=$US
	report "the refusing rule alone (all 403 by design)"
	median wf-h2
	report "an empty handler, then the rule" "$H1_RPS" "$H1_US"
	printf '  difference: %s us of server CPU per request (target <= 2)\n' \
	    "$(awk -v a="$US" -v b="$H1_US" 'BEGIN { printf "%.1f", a - b }')"
	if [ "$ROUNDS" -gt 1 ]; then
		printf '  noise: runs of the rule-alone daemon differ by up to %s us/req\n' \
		    "$(awk '{ print $4 }' "$WORK/res.wf-h1" | sort -n |
			awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.1f", hi - lo }')"
	fi
	stop_all
}

# wf_booking_script NAME: signs patient.demo in on $PORT, finds a free
# telehealth slot a week or more ahead, checks the rule refuses it, and
# writes $WORK/NAME.lua, a wrk script posting that booking.
wf_booking_script() {
	wf_base=http://127.0.0.1:$PORT
	wf_pw=$(demo_password patient.demo)
	wf_resp=$(curl -s -D - -H 'Content-Type: application/json' \
	    -d "{\"username\":\"patient.demo\",\"password\":\"$wf_pw\"}" \
	    "$wf_base/api/auth/login")
	wf_cookie=$(echo "$wf_resp" | sed -n 's/^[Ss]et-[Cc]ookie: \(atrium_session=[^;]*\);.*/\1/p' | head -n1)
	wf_csrf=$(echo "$wf_resp" | tr ',' '\n' | sed -n 's/.*"csrf_token":"\([^"]*\)".*/\1/p' | head -n1)
	[ -n "$wf_cookie" ] && [ -n "$wf_csrf" ] || die "$1: cannot sign in patient.demo"
	wf_type=$(curl -s -H "Cookie: $wf_cookie" "$wf_base/api/scheduling/types" | tr '{' '\n' |
	    sed -n 's/^"id":\([0-9]*\),"name":"Telehealth check-in".*"provider_ids":\[\([0-9]*\).*/\1 \2/p' | head -n1)
	[ -n "$wf_type" ] || die "$1: no telehealth visit type"
	set -- "$1" $wf_type
	wf_start=
	wf_n=7
	while [ -z "$wf_start" ] && [ $wf_n -lt 21 ]; do
		wf_day=$(date -u -d "+$wf_n days" +%F)
		wf_start=$(curl -s -H "Cookie: $wf_cookie" \
		    "$wf_base/api/scheduling/slots?type=$2&provider=$3&from=$wf_day&to=$wf_day" |
		    tr ',' '\n' | sed -n 's/^.*"start":"\([^"]*\)"$/\1/p' | head -n1)
		wf_n=$((wf_n + 1))
	done
	[ -n "$wf_start" ] || die "$1: no free slot in three weeks"
	wf_body="{\"type_id\":$2,\"provider_id\":$3,\"start\":\"$wf_start\"}"
	wf_check=$(curl -s -H 'Content-Type: application/json' -H "Cookie: $wf_cookie" \
	    -H "X-CSRF-Token: $wf_csrf" -H "Origin: $wf_base" -d "$wf_body" \
	    "$wf_base/api/scheduling/appointments")
	case $wf_check in
	*'"bench deny"'*) ;;
	*) die "$1: the booking was not refused by the rule: $wf_check" ;;
	esac
	cat >"$WORK/$1.lua" <<LUA
wrk.method = "POST"
wrk.body = '$wf_body'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Cookie"] = "$wf_cookie"
wrk.headers["X-CSRF-Token"] = "$wf_csrf"
wrk.headers["Origin"] = "$wf_base"
LUA
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
