#!/usr/bin/env python3
"""bench/login_load.py - sign-ins arriving at a fixed rate, for run.sh's
login_mixed scenario.

    login_load.py PORT USERNAME PASSWORD RATE SECONDS

Starts one sign-in (POST /api/auth/login, a new connection each) every
1/RATE seconds for SECONDS, each in its own thread so a slow answer never
delays the next arrival, then waits for the ones still running and prints

    login_load: sent N ok N failed N [STATUS:N ...]

One process for the whole run: starting a curl process per sign-in cost
the shared CPUs more than the daemon's own work for it did.
"""
import http.client
import json
import sys
import threading
import time


def main():
    port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    rate, seconds = float(sys.argv[4]), float(sys.argv[5])
    body = json.dumps({"username": user, "password": password})
    counts = {"ok": 0, "failed": 0}
    why = {}
    lock = threading.Lock()

    def one():
        status = 0
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            c.request("POST", "/api/auth/login", body,
                      {"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            status = r.status
            c.close()
        except OSError:
            pass
        with lock:
            counts["ok" if status == 200 else "failed"] += 1
            if status != 200:
                key = str(status) if status else "none"
                why[key] = why.get(key, 0) + 1

    threads = []
    start = time.monotonic()
    n = 0
    while True:
        due = start + n / rate
        if due - start >= seconds:
            break
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        t = threading.Thread(target=one, daemon=True)
        t.start()
        threads.append(t)
        n += 1
    for t in threads:
        t.join()
    print("login_load: sent %d ok %d failed %d %s"
          % (n, counts["ok"], counts["failed"],
             " ".join("%s:%d" % kv for kv in sorted(why.items()))))


if __name__ == "__main__":
    main()
