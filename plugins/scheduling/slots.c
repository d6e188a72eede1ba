/*
 * slots.c - see slots.h. Pure functions over dates, wall-clock times and
 * UTC intervals; the only outside call is the struct sched_clock the caller
 * passes in.
 */
#include "slots.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
	static const int md[] = {31, 28, 31, 30, 31, 30,
				 31, 31, 30, 31, 30, 31};
	return m == 2 && is_leap(y) ? 29 : md[m - 1];
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int sched_parse_date(const char *s, struct sched_date *out)
{
	int y, m, d;
	if (!s || strlen(s) != 10 || digits(s, 4, &y) || s[4] != '-' ||
	    digits(s + 5, 2, &m) || s[7] != '-' || digits(s + 8, 2, &d))
		return -1;
	if (y < 1970 || m < 1 || m > 12 || d < 1 || d > month_days(y, m))
		return -1;
	out->y = y;
	out->m = m;
	out->d = d;
	return 0;
}

void sched_format_date(struct sched_date d, char out[11])
{
	snprintf(out, 11, "%04u-%02u-%02u", (unsigned)d.y % 10000u,
		 (unsigned)d.m % 100u, (unsigned)d.d % 100u);
}

/* Howard Hinnant's days_from_civil / civil_from_days. */
long sched_days(struct sched_date d)
{
	long y = d.y - (d.m <= 2);
	long era = (y >= 0 ? y : y - 399) / 400;
	long yoe = y - era * 400;
	long doy = (153L * (d.m + (d.m > 2 ? -3 : 9)) + 2) / 5 + d.d - 1;
	long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

struct sched_date sched_from_days(long z)
{
	struct sched_date out;
	long era, doe, yoe, doy, mp;
	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	out.d = (int)(doy - (153 * mp + 2) / 5 + 1);
	out.m = (int)(mp < 10 ? mp + 3 : mp - 9);
	out.y = (int)(yoe + era * 400 + (out.m <= 2));
	return out;
}

int sched_weekday(struct sched_date d)
{
	long days = sched_days(d); /* 1970-01-01 was a Thursday (4) */
	long w = (days % 7 + 7 + 3) % 7; /* 0 = Monday */
	return (int)w + 1;
}

int sched_parse_hhmm(const char *s)
{
	int h, m;
	if (!s || strlen(s) != 5 || digits(s, 2, &h) || s[2] != ':' ||
	    digits(s + 3, 2, &m))
		return -1;
	if (h > 24 || m > 59 || (h == 24 && m != 0) || m % 5)
		return -1;
	return h * 60 + m;
}

void sched_format_hhmm(int minutes, char out[6])
{
	if (minutes < 0 || minutes > 1440)
		minutes = 0;
	snprintf(out, 6, "%02u:%02u", (unsigned)minutes / 60u % 100u,
		 (unsigned)minutes % 60u);
}

static struct tm wall(struct sched_date d, int minute)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = d.y - 1900;
	tm.tm_mon = d.m - 1;
	tm.tm_mday = d.d;
	tm.tm_hour = minute / 60;
	tm.tm_min = minute % 60;
	tm.tm_isdst = -1;
	return tm;
}

time_t sched_local_time(const struct sched_clock *c, struct sched_date d,
			int minute)
{
	if (minute < 0 || minute > 1440)
		return (time_t)-1;
	if (minute == 1440) {
		d = sched_from_days(sched_days(d) + 1);
		minute = 0;
	}
	/* A DST gap is at most a few hours; walk forward to its end. */
	for (int m = minute; m < 1440 && m <= minute + 240; m += 5) {
		struct tm tm = wall(d, m);
		time_t t = c->to_utc(c->arg, &tm);
		if (t != (time_t)-1)
			return t;
	}
	return (time_t)-1;
}

struct sched_date sched_local_date(const struct sched_clock *c, time_t t)
{
	struct tm tm;
	struct sched_date d;
	c->to_local(c->arg, t, &tm);
	d.y = tm.tm_year + 1900;
	d.m = tm.tm_mon + 1;
	d.d = tm.tm_mday;
	return d;
}

void sched_local_stamp(const struct sched_clock *c, time_t t, char out[17])
{
	struct tm tm;
	c->to_local(c->arg, t, &tm);
	snprintf(out, 17, "%04u-%02u-%02uT%02u:%02u",
		 (unsigned)(tm.tm_year + 1900) % 10000u,
		 (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u,
		 (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u);
}

size_t sched_day_windows(const struct sched_clock *c, struct sched_date d,
			 const struct sched_template *t, size_t n,
			 struct sched_interval *out, size_t *which,
			 size_t max)
{
	int wd = sched_weekday(d);
	long day = sched_days(d);
	size_t k = 0;

	for (size_t i = 0; i < n && k < max; i++) {
		struct sched_interval w;
		if (t[i].weekday != wd || t[i].end_min <= t[i].start_min)
			continue;
		if (t[i].valid_from != SCHED_NO_DAY && day < t[i].valid_from)
			continue;
		if (t[i].valid_until != SCHED_NO_DAY && day > t[i].valid_until)
			continue;
		w.start = sched_local_time(c, d, t[i].start_min);
		w.end = sched_local_time(c, d, t[i].end_min);
		if (w.start == (time_t)-1 || w.end == (time_t)-1 ||
		    w.end <= w.start)
			continue;
		/* keep out[] sorted by start (a day has a handful) */
		size_t j = k++;
		while (j > 0 && out[j - 1].start > w.start) {
			out[j] = out[j - 1];
			if (which)
				which[j] = which[j - 1];
			j--;
		}
		out[j] = w;
		if (which)
			which[j] = i;
	}
	return k;
}

int sched_overlaps(const struct sched_interval *busy, size_t n, time_t start,
		   time_t end)
{
	for (size_t i = 0; i < n; i++)
		if (busy[i].start < end && busy[i].end > start)
			return 1;
	return 0;
}

size_t sched_window_slots(struct sched_interval w, int step_s, int dur_s,
			  time_t not_before, time_t not_after,
			  const struct sched_interval *busy, size_t nbusy,
			  time_t *out, size_t max)
{
	size_t count = 0;
	if (step_s <= 0 || dur_s <= 0)
		return 0;
	for (time_t s = w.start; s + dur_s <= w.end; s += step_s) {
		if (s <= not_before || s > not_after)
			continue;
		if (sched_overlaps(busy, nbusy, s, s + dur_s))
			continue;
		if (count < max)
			out[count] = s;
		count++;
	}
	return count;
}

int sched_on_grid(const struct sched_interval *w, size_t n, int step_s,
		  int dur_s, time_t start)
{
	if (step_s <= 0 || dur_s <= 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (start >= w[i].start && start + dur_s <= w[i].end &&
		    (start - w[i].start) % step_s == 0)
			return (int)i;
	return -1;
}

static int cmp_start(const void *a, const void *b)
{
	const struct sched_interval *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

long sched_free_seconds(struct sched_interval w,
			const struct sched_interval *busy, size_t n)
{
	struct sched_interval *v;
	size_t k = 0;
	long covered = 0;
	time_t cur_s = 0, cur_e = 0;
	int open = 0;

	if (w.end <= w.start)
		return 0;
	if (!n)
		return (long)(w.end - w.start);
	v = malloc(n * sizeof(*v));
	if (!v)
		return 0;
	for (size_t i = 0; i < n; i++) {
		time_t s = busy[i].start > w.start ? busy[i].start : w.start;
		time_t e = busy[i].end < w.end ? busy[i].end : w.end;
		if (e > s) {
			v[k].start = s;
			v[k].end = e;
			k++;
		}
	}
	qsort(v, k, sizeof(*v), cmp_start);
	for (size_t i = 0; i < k; i++) {
		if (open && v[i].start <= cur_e) {
			if (v[i].end > cur_e)
				cur_e = v[i].end;
			continue;
		}
		if (open)
			covered += (long)(cur_e - cur_s);
		cur_s = v[i].start;
		cur_e = v[i].end;
		open = 1;
	}
	if (open)
		covered += (long)(cur_e - cur_s);
	free(v);
	return (long)(w.end - w.start) - covered;
}

int sched_cutoff_ok(time_t now, time_t start, long cutoff_hours)
{
	if (cutoff_hours < 0)
		cutoff_hours = 0;
	return (long long)start - (long long)now >= cutoff_hours * 3600LL;
}

static int lead_one(const char *s, size_t len, long *out)
{
	long v = 0, mul;
	if (len < 2 || len > 6)
		return -1;
	for (size_t i = 0; i + 1 < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	switch (s[len - 1]) {
	case 'm':
		mul = 60;
		break;
	case 'h':
		mul = 3600;
		break;
	case 'd':
		mul = 86400;
		break;
	default:
		return -1;
	}
	v *= mul;
	if (v < 60 || v > 60L * 86400)
		return -1;
	*out = v;
	return 0;
}

int sched_parse_leads(const char *s, long out[SCHED_MAX_LEADS])
{
	int n = 0;
	const char *p = s;

	if (!s || !*s)
		return -1;
	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		long v;
		int dup = 0;
		while (len && *p == ' ') {
			p++;
			len--;
		}
		while (len && p[len - 1] == ' ')
			len--;
		if (lead_one(p, len, &v))
			return -1;
		for (int i = 0; i < n; i++)
			dup |= out[i] == v;
		if (!dup) {
			if (n == SCHED_MAX_LEADS)
				return -1;
			out[n++] = v;
		}
		if (!end)
			break;
		p = end + 1;
	}
	/* largest first */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && out[j - 1] < out[j]; j--) {
			long t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

int sched_claim_granules(time_t start, time_t end, time_t *out, size_t max)
{
	size_t n = 0;
	if (end <= start || start % SCHED_GRANULE || end % SCHED_GRANULE)
		return -1;
	for (time_t t = start; t < end; t += SCHED_GRANULE) {
		if (n == max)
			return -1;
		out[n++] = t;
	}
	return (int)n;
}
