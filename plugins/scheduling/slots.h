/*
 * slots.h - the scheduling plugin's pure logic: calendar dates, wall-clock
 * times in the practice's zone, availability windows derived from weekly
 * templates, open slots (windows minus busy intervals), the claim grid,
 * cutoffs and reminder lead times.
 *
 * Nothing here calls the host API, the database or the process clock: time
 * zone conversion comes in through struct sched_clock and "now" is always
 * an argument, so tests link this file alone (tests/unit/
 * test_scheduling_slots.c). It is not the HTTP layer and does not know
 * about appointments, statuses or roles.
 */
#ifndef SCHED_SLOTS_H
#define SCHED_SLOTS_H

#include <stddef.h>
#include <time.h>

/* Every booking reserves the 5-minute granules it covers (scheduling's
 * slot_claims table); starts and durations are multiples of it. */
#define SCHED_GRANULE 300
#define SCHED_MAX_DURATION_MIN 480
#define SCHED_MAX_LEADS 8

/* A calendar date in the practice's zone. */
struct sched_date {
	int y, m, d;
};

/* Practice-local <-> UTC. to_utc returns (time_t)-1 for a wall time that
 * does not exist (the hour skipped when clocks go forward). */
struct sched_clock {
	time_t (*to_utc)(void *arg, const struct tm *local);
	void (*to_local)(void *arg, time_t t, struct tm *out);
	void *arg;
};

/* A half-open interval [start, end) of UTC seconds. */
struct sched_interval {
	time_t start, end;
};

/* One weekly availability row: weekday 1 (Monday) .. 7 (Sunday), minutes
 * after local midnight, and an optional validity range in days since the
 * epoch (from/until inclusive; SCHED_NO_DAY for open ends). */
#define SCHED_NO_DAY (-2147483647L)
struct sched_template {
	const char *location; /* carried along for the caller */
	int weekday;
	int start_min, end_min;
	long valid_from, valid_until;
};

/* "YYYY-MM-DD" strictly (a real date, 1970..9999): 0, or -1. */
int sched_parse_date(const char *s, struct sched_date *out);
/* Writes "YYYY-MM-DD" (11 bytes with the NUL). */
void sched_format_date(struct sched_date d, char out[11]);
/* Days since 1970-01-01 and back (proleptic Gregorian). */
long sched_days(struct sched_date d);
struct sched_date sched_from_days(long days);
/* 1 = Monday .. 7 = Sunday. */
int sched_weekday(struct sched_date d);
/* "HH:MM", 00:00..24:00, minutes a multiple of 5: minutes, or -1. */
int sched_parse_hhmm(const char *s);
/* Writes "HH:MM" (6 bytes with the NUL). */
void sched_format_hhmm(int minutes, char out[6]);

/* The UTC instant of local wall time `minute` (0..1440) on date d. A wall
 * time inside a forward DST gap moves to the first existing time after the
 * gap; 24:00 is midnight of the next day. (time_t)-1 on failure. */
time_t sched_local_time(const struct sched_clock *c, struct sched_date d,
			int minute);
/* The local calendar date of a UTC instant. */
struct sched_date sched_local_date(const struct sched_clock *c, time_t t);
/* Local "YYYY-MM-DDTHH:MM" of a UTC instant (17 bytes with the NUL). */
void sched_local_stamp(const struct sched_clock *c, time_t t, char out[17]);

/* The availability windows of date d from n templates (those of the right
 * weekday and validity), as UTC intervals sorted by start, written to out
 * (at most max); which[k] (when which is not NULL) gets the index of the
 * template out[k] came from. Returns the number written. */
size_t sched_day_windows(const struct sched_clock *c, struct sched_date d,
			 const struct sched_template *t, size_t n,
			 struct sched_interval *out, size_t *which,
			 size_t max);

/* Non-zero when [start, end) intersects one of the n busy intervals. */
int sched_overlaps(const struct sched_interval *busy, size_t n, time_t start,
		   time_t end);

/* Open starts inside window w: w.start + k*step_s for k >= 0, where the
 * whole [s, s + dur_s) fits in w, not_before < s <= not_after, and no busy
 * interval intersects it. Writes up to max starts to out; returns the
 * number of open starts (which may exceed max: only max are written). */
size_t sched_window_slots(struct sched_interval w, int step_s, int dur_s,
			  time_t not_before, time_t not_after,
			  const struct sched_interval *busy, size_t nbusy,
			  time_t *out, size_t max);

/* Index of the window of which `start` is a slot start for a visit of
 * dur_s seconds (on the window's step grid, fully inside), or -1. */
int sched_on_grid(const struct sched_interval *w, size_t n, int step_s,
		  int dur_s, time_t start);

/* Seconds of w not covered by the busy intervals (which may overlap each
 * other and need not be sorted). */
long sched_free_seconds(struct sched_interval w,
			const struct sched_interval *busy, size_t n);

/* May an appointment starting at `start` still be changed online at
 * `now`, with a cutoff of cutoff_hours before it? */
int sched_cutoff_ok(time_t now, time_t start, long cutoff_hours);

/* "72h,24h,2h" (units m, h, d; 1..SCHED_MAX_LEADS entries, each 1 minute
 * .. 60 days) into seconds, largest first, duplicates dropped. Returns the
 * count, or -1 on a malformed list. */
int sched_parse_leads(const char *s, long out[SCHED_MAX_LEADS]);

/* The granule-aligned slot instants a booking [start, end) claims:
 * writes up to max and returns the count; -1 when start or end is not on
 * the granule grid or the interval is empty. */
int sched_claim_granules(time_t start, time_t end, time_t *out, size_t max);

#endif
