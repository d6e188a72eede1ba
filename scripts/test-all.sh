#!/bin/sh
# make test: every suite - unit (cmocka), integration (real atriumd over
# HTTP), browser (headless Chromium), then unit + integration again under
# AddressSanitizer/UBSan. Ends with one line "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
sh scripts/deps.sh test || exit 1
log=build/test-logs
mkdir -p "$log"
total_pass=0
total_fail=0

count_node() { # file -> "pass fail"
	p=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$1" | tail -n1)
	f=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$1" | tail -n1)
	echo "${p:-0} ${f:-1}"
}
count_unit() {
	l=$(grep '^unit: [0-9]* passed' "$1" | tail -n1)
	p=$(echo "$l" | sed -n 's/^unit: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
	f=$(echo "$l" | sed -n 's/^unit: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
	echo "${p:-0} ${f:-1}"
}
add() { # suite "pass fail"
	set -- "$1" $2
	echo "== $1: $2 passed, $3 failed"
	total_pass=$((total_pass + $2))
	total_fail=$((total_fail + $3))
}

if ! make -j2 all >"$log/build.log" 2>&1; then
	cat "$log/build.log"
	echo "0 passed, 1 failed"
	exit 1
fi
make -j2 unit >"$log/unit.log" 2>&1
add unit "$(count_unit "$log/unit.log")"
make integration >"$log/integration.log" 2>&1
add integration "$(count_node "$log/integration.log")"
make e2e >"$log/e2e.log" 2>&1
add e2e "$(count_node "$log/e2e.log")"
if make -j2 BUILD=build-asan CC=clang OPT='-O1 -g -fno-omit-frame-pointer' \
	SAN='-fsanitize=address,undefined -fno-sanitize-recover=undefined' \
	all >"$log/asan-build.log" 2>&1; then
	ASAN_OPTIONS=detect_leaks=1 make --no-print-directory BUILD=build-asan \
	    CC=clang OPT='-O1 -g -fno-omit-frame-pointer' \
	    SAN='-fsanitize=address,undefined -fno-sanitize-recover=undefined' \
	    unit >"$log/asan-unit.log" 2>&1
	add asan-unit "$(count_unit "$log/asan-unit.log")"
	make --no-print-directory BUILD=build-asan CC=clang \
	    OPT='-O1 -g -fno-omit-frame-pointer' \
	    SAN='-fsanitize=address,undefined -fno-sanitize-recover=undefined' \
	    integration >"$log/asan-integration.log" 2>&1
	add asan-integration "$(count_node "$log/asan-integration.log")"
else
	cat "$log/asan-build.log"
	add asan-build "0 1"
fi

for f in "$log"/*.log; do
	if grep -q -E '^not ok|FAILED|ERROR: AddressSanitizer|runtime error:' "$f"; then
		echo "---- failures in $f:"
		grep -n -E -B2 -A20 '^not ok|\[  FAILED  \]|ERROR: AddressSanitizer|runtime error:' "$f" | head -150
	fi
done
echo "logs: $log/"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
