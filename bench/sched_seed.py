#!/usr/bin/env python3
"""bench/sched_seed.py - fills an atriumd database (made by `atriumd
--init-demo` with the scheduling plugin on, daemon stopped) with a busy
practice for the scheduling benchmarks in bench/run.sh.

What it adds, in one transaction, mostly with INSERT ... SELECT over
recursive CTEs:
- physician accounts up to --providers in all, each a provider the way
  plugins/scheduling/demo.c makes them (every visit type, weekday hours
  09:00-12:00 and 13:00-17:00 at the default location);
- --patients patient accounts (bench.patient.N), each with an own physician;
- --appointments visits in all: past ones on a 20-minute grid, most recent
  weekday first, going back as many years as it takes (fulfilled 85 %,
  cancelled 10 %, no-show 5 %, about 90 % of the grid filled), and over the
  next 30 days Telehealth check-ins on the 15-minute slot grid, 45 % of it
  booked and 5 % cancelled. Every active (booked) visit gets its slot
  claims, one per 5-minute granule, as booking.c writes them; seeded visits
  have no reminders or outbox rows.

Then, outside that transaction:
- --sessions N: signed-in sessions for the first N bench patients, written
  to --sessions-out as "TOKEN CSRF" lines (the CSRF token derived as
  core/auth.c derives it: base64url(keyed BLAKE2b-256(csrf_key, token hash)));
- --free-out FILE: every 15-minute Telehealth start on local days
  [--free-from, --free-to] from today (weekdays, all providers; no seeded
  visit is there), shuffled, as "PROVIDER TYPE START" lines.

Times: practice wall time in --tz, stored as UTC epoch seconds, local_date
the practice date. This is a benchmark fixture, not a migration or an
import tool: it assumes the demo practice and writes plugin tables directly.
"""
import argparse
import base64
import datetime as dt
import hashlib
import random
import secrets
import sqlite3
import sys
import time
from zoneinfo import ZoneInfo

PAST_CELLS = 21      # 20-minute cells a day: 9 in the morning, 12 after
FUTURE_CELLS = 28    # 15-minute cells a day: 12 in the morning, 16 after
FUTURE_DAYS = 30
ACTIVE = "('pending','booked','arrived','checked-in')"


def die(msg):
    sys.stderr.write("sched_seed: %s\n" % msg)
    sys.exit(1)


def weekdays(start, step, count):
    """count weekday dates from start (inclusive), walking by step days."""
    out, d = [], start
    while len(out) < count:
        if d.weekday() < 5:
            out.append(d)
        d += dt.timedelta(days=step)
    return out


def local_epoch(zone, day, minute):
    return int(dt.datetime(day.year, day.month, day.day, minute // 60,
                           minute % 60, tzinfo=zone).timestamp())


def one(db, sql, *args):
    row = db.execute(sql, args).fetchone()
    return row[0] if row else None


def seed_providers(db, want, location, now):
    """Physicians and providers up to `want`; returns provider ids."""
    have = [r[0] for r in db.execute(
        "SELECT id FROM scheduling_providers ORDER BY id")]
    for n in range(len(have) + 1, want + 1):
        cur = db.execute(
            "INSERT INTO users (username, display_name, role) VALUES "
            "(?, ?, 'physician')",
            ("bench.physician.%02d" % n, "Dr Bench %02d" % n))
        pid = cur.lastrowid
        db.execute("INSERT INTO scheduling_providers (id, display_name, "
                   "location, created_at) VALUES (?, ?, ?, ?)",
                   (pid, "Dr Bench %02d" % n, location, now))
        db.execute("INSERT INTO scheduling_type_providers (type_id, "
                   "provider_id) SELECT id, ? FROM scheduling_types",
                   (pid,))
        for wd in range(1, 6):
            for s, e in ((540, 720), (780, 1020)):
                db.execute(
                    "INSERT INTO scheduling_templates (provider_id, "
                    "location, weekday, start_minute, end_minute, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (pid, location, wd, s, e, now))
        have.append(pid)
    return have[:want]


def seed(db, a, zone, today, now):
    location = one(db, "SELECT location FROM scheduling_providers "
                       "ORDER BY id LIMIT 1") or "Main clinic"
    types = dict(db.execute("SELECT name, id FROM scheduling_types"))
    for name in ("Follow-up visit", "Telehealth check-in"):
        if name not in types:
            die("no '%s' type: run atriumd --init-demo with the "
                "scheduling plugin on first" % name)
    follow, tele = types["Follow-up visit"], types["Telehealth check-in"]
    staff = one(db, "SELECT id FROM users WHERE role = 'staff' ORDER BY id "
                    "LIMIT 1") or 0
    provs = seed_providers(db, a.providers, location, now)
    db.execute("CREATE TEMP TABLE prov (n INTEGER PRIMARY KEY, id INTEGER)")
    db.executemany("INSERT INTO prov VALUES (?, ?)", enumerate(provs))
    np = len(provs)

    # patients: one INSERT over a counter
    db.execute(
        "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c "
        "WHERE n < ?) INSERT INTO users (username, display_name, role, "
        "email) SELECT 'bench.patient.' || n, 'Bench Patient ' || n, "
        "'patient', 'bench.patient.' || n || '@example.org' FROM c",
        (a.patients,))
    first_pat = one(db, "SELECT MIN(id) FROM users WHERE username LIKE "
                        "'bench.patient.%'")
    db.execute(
        "INSERT INTO scheduling_primary_providers (patient_id, provider_id, "
        "updated_at) SELECT u.id, p.id, ? FROM users u JOIN prov p ON p.n "
        "= (u.id - ?) % ? WHERE u.id BETWEEN ? AND ?",
        (now, first_pat, np, first_pat, first_pat + a.patients - 1))

    # the next 30 days: Telehealth check-ins on the 15-minute grid
    db.execute("CREATE TEMP TABLE days (n INTEGER PRIMARY KEY, day TEXT, "
               "am INTEGER, pm INTEGER)")
    fut = [today + dt.timedelta(days=k) for k in range(1, FUTURE_DAYS + 1)]
    fut = [d for d in fut if d.weekday() < 5]
    db.executemany("INSERT INTO days VALUES (?, ?, ?, ?)",
                   [(i, d.isoformat(), local_epoch(zone, d, 540),
                     local_epoch(zone, d, 780)) for i, d in enumerate(fut)])
    grid = ("WITH RECURSIVE cell(k) AS (SELECT 0 UNION ALL SELECT k + 1 "
            "FROM cell WHERE k < ? - 1), g AS (SELECT d.day, p.id AS prov, "
            "(d.n * ? + p.n) * ? + cell.k AS i, CASE WHEN cell.k < ? THEN "
            "d.am + cell.k * ? ELSE d.pm + (cell.k - ?) * ? END AS s FROM "
            "days d CROSS JOIN prov p CROSS JOIN cell), h AS (SELECT *, "
            "(i * 2654435761 + 97) % 1000 AS r FROM g) ")
    insert = (" INSERT INTO scheduling_appointments (patient_id, "
              "provider_id, type_id, location, start_utc, end_utc, "
              "local_date, status, booked_by, self_booked, reminder_leads, "
              "created_at, updated_at, cancel_reason, cancelled_by) ")
    db.execute(
        grid + insert +
        "SELECT ? + (i * 7919) % ?, prov, ?, ?, s, s + 900, day, CASE WHEN "
        "r < 450 THEN 'booked' ELSE 'cancelled' END, ? + (i * 7919) % ?, "
        "1, '72h,24h,2h', s - 1209600, s - 1209600, CASE WHEN r < 450 THEN "
        "NULL ELSE 'bench' END, CASE WHEN r < 450 THEN NULL ELSE ? + "
        "(i * 7919) % ? END FROM h WHERE r < 500",
        (FUTURE_CELLS, np, FUTURE_CELLS, 12, 900, 12, 900,
         first_pat, a.patients, tele, location, first_pat, a.patients,
         first_pat, a.patients))
    n_future = one(db, "SELECT COUNT(*) FROM scheduling_appointments "
                       "WHERE local_date > ?", today.isoformat())
    db.execute(
        "WITH RECURSIVE g(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM g "
        "WHERE k < 95) INSERT INTO scheduling_slot_claims (provider_id, "
        "slot_utc, appointment_id) SELECT a.provider_id, a.start_utc + "
        "g.k * 300, a.id FROM scheduling_appointments a JOIN g ON "
        "a.start_utc + g.k * 300 < a.end_utc WHERE a.status IN " + ACTIVE +
        " AND a.start_utc > ?", (now,))

    # the past: most recent weekday first, 20-minute grid, ~90 % filled
    n_past = a.appointments - n_future
    if n_past < 0:
        die("--appointments is smaller than the next 30 days' bookings")
    need = int(n_past / (np * PAST_CELLS * 0.89)) + 2
    past = weekdays(today - dt.timedelta(days=1), -1, need)
    db.execute("DELETE FROM days")
    db.executemany("INSERT INTO days VALUES (?, ?, ?, ?)",
                   [(i, d.isoformat(), local_epoch(zone, d, 540),
                     local_epoch(zone, d, 780)) for i, d in enumerate(past)])
    db.execute(
        grid + insert +
        "SELECT ? + (i * 7919) % ?, prov, CASE WHEN r % 3 = 0 THEN ? ELSE "
        "? END, ?, s, s + CASE WHEN r % 3 = 0 THEN 900 ELSE 1200 END, day, "
        "CASE WHEN r < 850 THEN 'fulfilled' WHEN r < 950 THEN 'cancelled' "
        "ELSE 'noshow' END, CASE WHEN r % 5 = 0 THEN ? ELSE ? + (i * 7919) "
        "% ? END, r % 5 != 0, '72h,24h,2h', s - 1209600, s + 3600, CASE "
        "WHEN r >= 850 AND r < 950 THEN 'bench' END, CASE WHEN r >= 850 "
        "AND r < 950 THEN ? + (i * 7919) % ? END FROM h WHERE (i * 40503) "
        "% 100 >= 10 LIMIT ?",
        (PAST_CELLS, np, PAST_CELLS, 9, 1200, 9, 1200,
         first_pat, a.patients, tele, follow, location, staff or first_pat,
         first_pat, a.patients, first_pat, a.patients, n_past))
    total = one(db, "SELECT COUNT(*) FROM scheduling_appointments WHERE "
                    "patient_id >= ?", first_pat)
    if total != a.appointments:
        die("made %d appointments, wanted %d (too few past days)" %
            (total, a.appointments))
    oldest = one(db, "SELECT MIN(local_date) FROM scheduling_appointments")
    return first_pat, tele, provs, n_future, oldest


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def make_sessions(db, first_pat, n, path, now):
    hexkey = one(db, "SELECT value FROM core_secrets WHERE name = "
                     "'csrf_key'")
    if not hexkey:
        die("no csrf_key in core_secrets: start atriumd once first")
    key = bytes.fromhex(hexkey)
    lines = []
    db.execute("BEGIN IMMEDIATE")
    for k in range(n):
        tok = b64url(secrets.token_bytes(32))
        th = hashlib.sha256(tok.encode()).hexdigest()
        csrf = b64url(hashlib.blake2b(th.encode(), key=key, digest_size=32).digest())
        ch = hashlib.sha256(csrf.encode()).hexdigest()
        db.execute("INSERT INTO sessions (token_hash, csrf_hash, user_id, "
                   "created_at, last_seen_at, expires_at, client) VALUES "
                   "(?, ?, ?, ?, ?, ?, '127.0.0.1')",
                   (th, ch, first_pat + k, now, now, now + 86400))
        lines.append("%s %s\n" % (tok, csrf))
    db.execute("COMMIT")
    with open(path, "w") as f:
        f.writelines(lines)


def free_slots(zone, today, provs, tele, lo, hi, path):
    out = []
    for k in range(lo, hi + 1):
        d = today + dt.timedelta(days=k)
        if d.weekday() >= 5:
            continue
        for start, cells in ((540, 12), (780, 16)):
            for c in range(cells):
                t = local_epoch(zone, d, start + 15 * c)
                stamp = dt.datetime.fromtimestamp(t, dt.timezone.utc)
                for p in provs:
                    out.append("%d %d %s\n" % (
                        p, tele, stamp.strftime("%Y-%m-%dT%H:%M:%SZ")))
    random.Random(6).shuffle(out)
    with open(path, "w") as f:
        f.writelines(out)
    return len(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("db")
    ap.add_argument("--tz", default="UTC")
    ap.add_argument("--providers", type=int, default=20)
    ap.add_argument("--patients", type=int, default=40000)
    ap.add_argument("--appointments", type=int, default=1000000)
    ap.add_argument("--sessions", type=int, default=0)
    ap.add_argument("--sessions-out")
    ap.add_argument("--free-out")
    ap.add_argument("--free-from", type=int, default=31)
    ap.add_argument("--free-to", type=int, default=89)
    a = ap.parse_args()
    if a.sessions > a.patients or (a.sessions and not a.sessions_out):
        die("--sessions needs --sessions-out and at most --patients")
    zone = ZoneInfo(a.tz)
    now = int(time.time())
    today = dt.datetime.now(zone).date()
    t0 = time.time()
    db = sqlite3.connect(a.db, isolation_level=None)
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -262144")
    db.execute("PRAGMA temp_store = MEMORY")
    db.execute("BEGIN IMMEDIATE")
    try:
        first, tele, provs, n_future, oldest = seed(db, a, zone, today, now)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    print("sched_seed: %d providers, %d patients, %d appointments (%d in "
          "the next %d days, oldest %s) in %.1f s" %
          (len(provs), a.patients, a.appointments, n_future, FUTURE_DAYS,
           oldest, time.time() - t0))
    if a.sessions:
        make_sessions(db, first, a.sessions, a.sessions_out, now)
    if a.free_out:
        n = free_slots(zone, today, provs, tele, a.free_from, a.free_to,
                       a.free_out)
        print("sched_seed: %d free Telehealth starts on days %d-%d" %
              (n, a.free_from, a.free_to))
    db.close()


if __name__ == "__main__":
    main()
