/*
 * test_scheduling_slots.c - unit tests for plugins/scheduling/slots.c, the
 * scheduling plugin's pure logic, linked directly (no host, no database):
 * calendar dates, wall-clock times, availability windows and slots in the
 * weeks clocks change in America/New_York and Europe/London, the claim
 * grid, cutoffs and reminder lead times.
 *
 * The clock adapter below has the host's contract (api->local_to_utc):
 * mktime in the process zone, (time_t)-1 for a wall time that does not
 * exist. Each test sets TZ itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../plugins/scheduling/slots.h"

static time_t to_utc(void *arg, const struct tm *local)
{
	struct tm in = *local, back;
	time_t t;
	(void)arg;
	in.tm_isdst = -1;
	t = mktime(&in);
	if (t == (time_t)-1)
		return t;
	localtime_r(&t, &back);
	if (back.tm_hour != local->tm_hour || back.tm_min != local->tm_min ||
	    back.tm_mday != local->tm_mday)
		return (time_t)-1;
	return t;
}

static void to_local(void *arg, time_t t, struct tm *out)
{
	(void)arg;
	localtime_r(&t, out);
}

static const struct sched_clock clk = {to_utc, to_local, NULL};

static void zone(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

/* UTC instant of "YYYY-MM-DDTHH:MM:00Z". */
static time_t utc(int y, int mo, int d, int h, int mi)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	return timegm(&tm);
}

static struct sched_date date(int y, int m, int d)
{
	struct sched_date x = {y, m, d};
	return x;
}

/* Every weekday, start..end local. */
static void all_week(struct sched_template *t, int start, int end)
{
	for (int i = 0; i < 7; i++) {
		t[i].location = "Main";
		t[i].weekday = i + 1;
		t[i].start_min = start;
		t[i].end_min = end;
		t[i].valid_from = SCHED_NO_DAY;
		t[i].valid_until = SCHED_NO_DAY;
	}
}

/* Open 15-minute slots of one day of templates t (no bookings). */
static size_t day_slots(struct sched_date d, const struct sched_template *t,
			size_t n, int dur_min, time_t *first)
{
	struct sched_interval w[8];
	size_t nw = sched_day_windows(&clk, d, t, n, w, NULL, 8), total = 0;
	for (size_t i = 0; i < nw; i++) {
		time_t s[128];
		size_t k = sched_window_slots(w[i], 900, dur_min * 60, 0,
					      (time_t)1 << 40, NULL, 0, s, 128);
		if (k && first && total == 0)
			*first = s[0];
		total += k;
	}
	return total;
}

static void test_dates(void **state)
{
	struct sched_date d;
	char buf[11];
	(void)state;
	assert_int_equal(sched_parse_date("2026-12-01", &d), 0);
	assert_int_equal(d.y, 2026);
	assert_int_equal(d.m, 12);
	assert_int_equal(d.d, 1);
	assert_int_equal(sched_parse_date("2028-02-29", &d), 0);
	assert_int_equal(sched_parse_date("2026-02-29", &d), -1);
	assert_int_equal(sched_parse_date("2026-13-01", &d), -1);
	assert_int_equal(sched_parse_date("2026-1-01", &d), -1);
	assert_int_equal(sched_parse_date("2026-12-01T", &d), -1);
	assert_int_equal(sched_parse_date("1969-12-31", &d), -1);
	assert_int_equal(sched_parse_date(NULL, &d), -1);
	assert_int_equal(sched_days(date(1970, 1, 1)), 0);
	assert_int_equal(sched_days(date(2026, 12, 1)),
			 (long)(utc(2026, 12, 1, 0, 0) / 86400));
	for (long k = 0; k < 40000; k += 37) {
		struct sched_date x = sched_from_days(k);
		assert_int_equal(sched_days(x), k);
	}
	assert_int_equal(sched_weekday(date(2026, 12, 1)), 2); /* Tuesday */
	assert_int_equal(sched_weekday(date(2026, 3, 8)), 7);  /* Sunday */
	assert_int_equal(sched_weekday(date(1970, 1, 1)), 4);  /* Thursday */
	sched_format_date(date(2026, 3, 8), buf);
	assert_string_equal(buf, "2026-03-08");
}

static void test_hhmm(void **state)
{
	char buf[6];
	(void)state;
	assert_int_equal(sched_parse_hhmm("09:00"), 540);
	assert_int_equal(sched_parse_hhmm("00:00"), 0);
	assert_int_equal(sched_parse_hhmm("24:00"), 1440);
	assert_int_equal(sched_parse_hhmm("17:45"), 1065);
	assert_int_equal(sched_parse_hhmm("24:05"), -1);
	assert_int_equal(sched_parse_hhmm("09:03"), -1);
	assert_int_equal(sched_parse_hhmm("9:00"), -1);
	assert_int_equal(sched_parse_hhmm("09:60"), -1);
	assert_int_equal(sched_parse_hhmm("25:00"), -1);
	sched_format_hhmm(1065, buf);
	assert_string_equal(buf, "17:45");
}

/* New York springs forward on Sunday 2026-03-08 at 02:00 (EST -> EDT). */
static void test_new_york_spring_week(void **state)
{
	struct sched_template t[7];
	time_t first = 0;
	(void)state;
	zone("America/New_York");
	all_week(t, 9 * 60, 12 * 60);
	/* Monday 2 .. Saturday 7: EST, 09:00 = 14:00Z */
	for (int d = 2; d <= 7; d++) {
		assert_int_equal(day_slots(date(2026, 3, d), t, 7, 15, &first),
				 12);
		assert_true(first == utc(2026, 3, d, 14, 0));
	}
	/* Sunday 8 and Monday 9: EDT, 09:00 = 13:00Z, still 12 slots */
	assert_int_equal(day_slots(date(2026, 3, 8), t, 7, 15, &first), 12);
	assert_true(first == utc(2026, 3, 8, 13, 0));
	assert_int_equal(day_slots(date(2026, 3, 9), t, 7, 15, &first), 12);
	assert_true(first == utc(2026, 3, 9, 13, 0));
}

static void test_new_york_gap_and_overlap(void **state)
{
	struct sched_template t[7];
	struct sched_interval w[4];
	time_t first = 0;
	(void)state;
	zone("America/New_York");
	/* 01:00-04:00 on the spring day lasts two real hours */
	all_week(t, 1 * 60, 4 * 60);
	assert_int_equal(sched_day_windows(&clk, date(2026, 3, 8), t, 7, w,
					   NULL, 4),
			 1);
	assert_true(w[0].start == utc(2026, 3, 8, 6, 0));
	assert_true(w[0].end == utc(2026, 3, 8, 8, 0));
	assert_int_equal(day_slots(date(2026, 3, 8), t, 7, 15, NULL), 8);
	/* a start inside the skipped hour moves to its end (03:00 EDT) */
	assert_true(sched_local_time(&clk, date(2026, 3, 8), 150) ==
		    utc(2026, 3, 8, 7, 0));
	/* 00:00-04:00 on the autumn day (2026-11-01) lasts five hours */
	all_week(t, 0, 4 * 60);
	assert_int_equal(day_slots(date(2026, 11, 1), t, 7, 15, &first), 20);
	assert_true(first == utc(2026, 11, 1, 4, 0));
	/* and 09:00 moves from 13:00Z to 14:00Z across it */
	all_week(t, 9 * 60, 10 * 60);
	day_slots(date(2026, 10, 31), t, 7, 15, &first);
	assert_true(first == utc(2026, 10, 31, 13, 0));
	day_slots(date(2026, 11, 1), t, 7, 15, &first);
	assert_true(first == utc(2026, 11, 1, 14, 0));
	/* 24:00 is the next midnight */
	assert_true(sched_local_time(&clk, date(2026, 11, 1), 1440) ==
		    utc(2026, 11, 2, 5, 0));
}

/* London: BST from Sunday 2026-03-29 01:00 GMT to Sunday 2026-10-25. */
static void test_london_weeks(void **state)
{
	struct sched_template t[7];
	struct sched_interval w[4];
	time_t first = 0;
	struct sched_date d;
	char stamp[17];
	(void)state;
	zone("Europe/London");
	all_week(t, 9 * 60, 12 * 60);
	for (int day = 23; day <= 28; day++) {
		assert_int_equal(
		    day_slots(date(2026, 3, day), t, 7, 15, &first), 12);
		assert_true(first == utc(2026, 3, day, 9, 0));
	}
	assert_int_equal(day_slots(date(2026, 3, 29), t, 7, 15, &first), 12);
	assert_true(first == utc(2026, 3, 29, 8, 0));
	assert_int_equal(day_slots(date(2026, 10, 24), t, 7, 15, &first), 12);
	assert_true(first == utc(2026, 10, 24, 8, 0));
	assert_int_equal(day_slots(date(2026, 10, 25), t, 7, 15, &first), 12);
	assert_true(first == utc(2026, 10, 25, 9, 0));
	all_week(t, 0, 3 * 60);
	sched_day_windows(&clk, date(2026, 3, 29), t, 7, w, NULL, 4);
	assert_true(w[0].end - w[0].start == 2 * 3600);
	sched_day_windows(&clk, date(2026, 10, 25), t, 7, w, NULL, 4);
	assert_true(w[0].start == utc(2026, 10, 24, 23, 0));
	assert_true(w[0].end - w[0].start == 4 * 3600);
	/* the local date of 23:30Z on the 24th is already the 25th in BST */
	d = sched_local_date(&clk, utc(2026, 10, 24, 23, 30));
	assert_int_equal(d.d, 25);
	sched_local_stamp(&clk, utc(2026, 7, 1, 8, 0), stamp);
	assert_string_equal(stamp, "2026-07-01T09:00");
}

static void test_windows_validity_and_order(void **state)
{
	struct sched_template t[3] = {
	    {"B", 2, 13 * 60, 17 * 60, SCHED_NO_DAY, SCHED_NO_DAY},
	    {"A", 2, 9 * 60, 12 * 60, SCHED_NO_DAY, SCHED_NO_DAY},
	    {"C", 2, 18 * 60, 19 * 60, 0, 0},
	};
	struct sched_interval w[4];
	size_t which[4];
	(void)state;
	zone("UTC");
	t[2].valid_from = sched_days(date(2027, 1, 1));
	t[2].valid_until = SCHED_NO_DAY;
	/* Tuesday 2026-12-01: C not yet valid; windows sorted by start */
	assert_int_equal(sched_day_windows(&clk, date(2026, 12, 1), t, 3, w,
					   which, 4),
			 2);
	assert_true(w[0].start == utc(2026, 12, 1, 9, 0));
	assert_int_equal(which[0], 1);
	assert_int_equal(which[1], 0);
	/* Tuesday 2027-01-05: all three */
	assert_int_equal(sched_day_windows(&clk, date(2027, 1, 5), t, 3, w,
					   which, 4),
			 3);
	assert_int_equal(which[2], 2);
	/* a Wednesday has none */
	assert_int_equal(sched_day_windows(&clk, date(2026, 12, 2), t, 3, w,
					   which, 4),
			 0);
	t[2].valid_from = SCHED_NO_DAY;
	t[2].valid_until = sched_days(date(2026, 11, 30));
	assert_int_equal(sched_day_windows(&clk, date(2026, 12, 1), t, 3, w,
					   which, 4),
			 2);
}

static void test_slots_minus_busy(void **state)
{
	struct sched_interval w = {utc(2026, 12, 1, 9, 0),
				   utc(2026, 12, 1, 12, 0)};
	struct sched_interval busy[2] = {
	    {utc(2026, 12, 1, 9, 0), utc(2026, 12, 1, 9, 40)},
	    {utc(2026, 12, 1, 11, 0), utc(2026, 12, 1, 11, 20)},
	};
	time_t s[64];
	size_t n;
	(void)state;
	/* 40-minute visits every 15 minutes: 09:00 .. 11:15 */
	n = sched_window_slots(w, 900, 2400, 0, (time_t)1 << 40, NULL, 0, s,
			       64);
	assert_int_equal(n, 10);
	assert_true(s[9] == utc(2026, 12, 1, 11, 15));
	/* minus a 40-minute booking at 09:00 and a block 11:00-11:20:
	 * 09:45 is first; 10:30 (ends 11:10) and later overlap the block */
	n = sched_window_slots(w, 900, 2400, 0, (time_t)1 << 40, busy, 2, s,
			       64);
	assert_int_equal(n, 3);
	assert_true(s[0] == utc(2026, 12, 1, 9, 45));
	assert_true(s[1] == utc(2026, 12, 1, 10, 0));
	assert_true(s[2] == utc(2026, 12, 1, 10, 15));
	/* nothing at or before not_before, nothing after not_after */
	n = sched_window_slots(w, 900, 900, utc(2026, 12, 1, 10, 0),
			       utc(2026, 12, 1, 11, 0), NULL, 0, s, 64);
	assert_int_equal(n, 4); /* 10:15, 10:30, 10:45, 11:00 */
	assert_true(s[0] == utc(2026, 12, 1, 10, 15));
	/* the count goes on past max; only max are written */
	assert_int_equal(sched_window_slots(w, 900, 900, 0, (time_t)1 << 40,
					    NULL, 0, s, 2),
			 12);
	assert_int_equal(sched_overlaps(busy, 2, utc(2026, 12, 1, 9, 40),
					utc(2026, 12, 1, 10, 0)),
			 0);
	assert_int_equal(sched_overlaps(busy, 2, utc(2026, 12, 1, 9, 35),
					utc(2026, 12, 1, 10, 0)),
			 1);
}

static void test_on_grid(void **state)
{
	struct sched_interval w[2] = {
	    {utc(2026, 12, 1, 9, 0), utc(2026, 12, 1, 12, 0)},
	    {utc(2026, 12, 1, 13, 0), utc(2026, 12, 1, 17, 0)},
	};
	(void)state;
	assert_int_equal(sched_on_grid(w, 2, 900, 1200,
				       utc(2026, 12, 1, 9, 15)),
			 0);
	assert_int_equal(sched_on_grid(w, 2, 900, 1200,
				       utc(2026, 12, 1, 13, 30)),
			 1);
	/* off the 15-minute grid */
	assert_int_equal(sched_on_grid(w, 2, 900, 1200,
				       utc(2026, 12, 1, 9, 5)),
			 -1);
	/* runs past the window's end */
	assert_int_equal(sched_on_grid(w, 2, 900, 2400,
				       utc(2026, 12, 1, 11, 30)),
			 -1);
	/* in the lunch gap and before opening */
	assert_int_equal(sched_on_grid(w, 2, 900, 900,
				       utc(2026, 12, 1, 12, 15)),
			 -1);
	assert_int_equal(sched_on_grid(w, 2, 900, 900,
				       utc(2026, 12, 1, 8, 45)),
			 -1);
}

static void test_free_seconds(void **state)
{
	struct sched_interval w = {1000, 5000};
	struct sched_interval b[3] = {{1500, 2000}, {1800, 2500}, {4800, 9000}};
	(void)state;
	assert_int_equal(sched_free_seconds(w, NULL, 0), 4000);
	/* union 1500-2500 and 4800-5000 (clipped) */
	assert_int_equal(sched_free_seconds(w, b, 3), 4000 - 1000 - 200);
	b[0].start = 0;
	b[0].end = 9999;
	assert_int_equal(sched_free_seconds(w, b, 1), 0);
}

static void test_cutoff(void **state)
{
	time_t start = utc(2026, 12, 2, 9, 0);
	(void)state;
	assert_true(sched_cutoff_ok(start - 24 * 3600, start, 24));
	assert_false(sched_cutoff_ok(start - 24 * 3600 + 60, start, 24));
	assert_true(sched_cutoff_ok(start - 72 * 3600, start, 24));
	assert_false(sched_cutoff_ok(start + 60, start, 0));
	assert_true(sched_cutoff_ok(start - 1, start, 0));
}

static void test_leads(void **state)
{
	long v[SCHED_MAX_LEADS];
	(void)state;
	assert_int_equal(sched_parse_leads("72h,24h,2h", v), 3);
	assert_true(v[0] == 72 * 3600 && v[1] == 24 * 3600 && v[2] == 7200);
	assert_int_equal(sched_parse_leads("2h, 7d ,15m,2h", v), 3);
	assert_true(v[0] == 7 * 86400 && v[1] == 7200 && v[2] == 900);
	assert_int_equal(sched_parse_leads("", v), -1);
	assert_int_equal(sched_parse_leads(NULL, v), -1);
	assert_int_equal(sched_parse_leads("72x", v), -1);
	assert_int_equal(sched_parse_leads("0h", v), -1);
	assert_int_equal(sched_parse_leads("61d", v), -1);
	assert_int_equal(sched_parse_leads("h", v), -1);
	assert_int_equal(sched_parse_leads("24h,", v), -1);
	assert_int_equal(sched_parse_leads("1h,2h,3h,4h,5h,6h,7h,8h,9h", v), -1);
}

static void test_claim_granules(void **state)
{
	time_t g[96];
	time_t s = utc(2026, 12, 1, 9, 0);
	(void)state;
	assert_int_equal(sched_claim_granules(s, s + 2400, g, 96), 8);
	assert_true(g[0] == s && g[7] == s + 7 * SCHED_GRANULE);
	assert_int_equal(sched_claim_granules(s + 60, s + 2400, g, 96), -1);
	assert_int_equal(sched_claim_granules(s, s, g, 96), -1);
	assert_int_equal(sched_claim_granules(s, s + 8 * 3600 + 300, g, 96),
			 -1);
	/* two different-length visits that overlap share a granule */
	{
		time_t a[96], b[96];
		int na = sched_claim_granules(s, s + 2400, a, 96);
		int nb = sched_claim_granules(s + 1800, s + 3000, b, 96);
		int shared = 0;
		for (int i = 0; i < na; i++)
			for (int j = 0; j < nb; j++)
				shared += a[i] == b[j];
		assert_int_equal(shared, 2);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dates),
	    cmocka_unit_test(test_hhmm),
	    cmocka_unit_test(test_new_york_spring_week),
	    cmocka_unit_test(test_new_york_gap_and_overlap),
	    cmocka_unit_test(test_london_weeks),
	    cmocka_unit_test(test_windows_validity_and_order),
	    cmocka_unit_test(test_slots_minus_busy),
	    cmocka_unit_test(test_on_grid),
	    cmocka_unit_test(test_free_seconds),
	    cmocka_unit_test(test_cutoff),
	    cmocka_unit_test(test_leads),
	    cmocka_unit_test(test_claim_granules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
