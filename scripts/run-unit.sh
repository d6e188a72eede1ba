#!/bin/sh
# Runs each cmocka unit-test binary; prints their output and, last, a line
# "unit: N passed, N failed" that test-all.sh adds up.
build=$1
shift
pass=0
fail=0
for t in "$@"; do
	out=$("$t" 2>&1)
	rc=$?
	echo "$out"
	p=$(echo "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -n1)
	f=$(echo "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -n1)
	p=${p:-0}
	f=${f:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "unit: $t exited $rc"
		f=1
	fi
	pass=$((pass + p))
	fail=$((fail + f))
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
