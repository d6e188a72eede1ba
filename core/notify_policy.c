/*
 * notify_policy.c - when a delivery may be attempted: quiet hours in the
 * practice time zone and the retry backoff. Pure functions of their
 * arguments and the process time zone (set to the practice's at start);
 * any thread. The rate limit needs the database and lives with the
 * delivery thread (notify_worker.c).
 */
#include "notify.h"

#include <stdio.h>
#include <string.h>

#include "crypto.h"

int notify_hhmm(const char *s)
{
	int h, m;
	char tail;

	if (!s || strlen(s) != 5 || s[2] != ':' ||
	    sscanf(s, "%2d:%2d%c", &h, &m, &tail) != 2)
		return -1;
	for (int i = 0; i < 5; i++)
		if (i != 2 && (s[i] < '0' || s[i] > '9'))
			return -1;
	if (h > 23 || m > 59)
		return -1;
	return h * 60 + m;
}

/* UTC time of local day `local` (+ add_days) at minute `min`. */
static time_t local_at(const struct tm *local, int add_days, int min)
{
	struct tm t = *local;

	t.tm_mday += add_days;
	t.tm_hour = min / 60;
	t.tm_min = min % 60;
	t.tm_sec = 0;
	t.tm_isdst = -1; /* mktime decides; a time in a DST gap moves on */
	return mktime(&t);
}

time_t notify_quiet_until(time_t now, int start, int end)
{
	struct tm lt;
	int m;

	if (start < 0 || end < 0 || start == end)
		return 0;
	if (!localtime_r(&now, &lt))
		return 0;
	m = lt.tm_hour * 60 + lt.tm_min;
	if (start < end) /* e.g. 12:00-14:00, within one day */
		return m >= start && m < end ? local_at(&lt, 0, end) : 0;
	/* e.g. 21:00-08:00, across midnight */
	if (m >= start)
		return local_at(&lt, 1, end);
	if (m < end)
		return local_at(&lt, 0, end);
	return 0;
}

long long notify_backoff(int attempts, long long base, long long max)
{
	long long d = base > 0 ? base : 1;
	unsigned r;

	for (int i = 1; i < attempts && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	random_bytes(&r, sizeof(r));
	return d + (long long)(r % (unsigned)(d / 10 + 1));
}
