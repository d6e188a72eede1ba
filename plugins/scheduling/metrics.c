/*
 * metrics.c - numbers about the schedule for the care team (and a later
 * dashboard): no-show rate per provider per month, the share of visits
 * patients booked themselves, slot fill rate, and waitlist offers sent and
 * accepted, over a range of practice-local dates.
 *
 * Aggregates only: no patient appears in the answer, so the route is not
 * a PHI route. Definitions are in README.md.
 */
#include "sched.h"

#include <string.h>

#define MAX_RANGE_DAYS 732

static double ratio(long long a, long long b)
{
	return b > 0 ? (double)a / (double)b : 0.0;
}

static json_t *noshow_rates(struct atr_ctx *ctx, const char *from,
			    const char *to, long long provider)
{
	json_t *rows = sched_query(
	    ctx,
	    "SELECT a.provider_id, p.display_name, substr(a.local_date, 1, 7) "
	    "AS month, COUNT(*) AS visits, SUM(CASE WHEN a.status = 'noshow' "
	    "THEN 1 ELSE 0 END) AS noshows FROM scheduling_appointments a "
	    "JOIN scheduling_providers p ON p.id = a.provider_id WHERE "
	    "a.status IN ('fulfilled', 'noshow', 'arrived', 'checked-in') "
	    "AND a.local_date >= ? AND a.local_date <= ? AND (? = 0 OR "
	    "a.provider_id = ?) GROUP BY a.provider_id, p.display_name, "
	    "substr(a.local_date, 1, 7) ORDER BY month, a.provider_id",
	    json_pack("[s,s,I,I]", from, to, (json_int_t)provider,
		      (json_int_t)provider)),
	       *out = json_array(), *r;
	size_t i;
	json_array_foreach(rows, i, r)
	{
		long long v = sched_int(r, "visits"), n = sched_int(r, "noshows");
		json_array_append_new(
		    out, json_pack("{s:I,s:O,s:O,s:I,s:I,s:f}", "provider_id",
				   (json_int_t)sched_int(r, "provider_id"),
				   "provider_name",
				   json_object_get(r, "display_name"), "month",
				   json_object_get(r, "month"), "visits",
				   (json_int_t)v, "noshows", (json_int_t)n,
				   "rate", ratio(n, v)));
	}
	json_decref(rows);
	return out;
}

static json_t *self_booked(struct atr_ctx *ctx, const char *from,
			   const char *to, long long provider)
{
	int st;
	json_t *r = sched_one(
	    ctx,
	    "SELECT COUNT(*) AS total, SUM(CASE WHEN self_booked = 1 THEN 1 "
	    "ELSE 0 END) AS self FROM scheduling_appointments WHERE status "
	    "!= 'entered-in-error' AND local_date >= ? AND local_date <= ? "
	    "AND (? = 0 OR provider_id = ?)",
	    json_pack("[s,s,I,I]", from, to, (json_int_t)provider,
		      (json_int_t)provider),
	    &st);
	long long total = sched_int(r, "total"), self = sched_int(r, "self");
	json_decref(r);
	return json_pack("{s:I,s:I,s:f}", "total", (json_int_t)total,
			 "self_booked", (json_int_t)self, "share",
			 ratio(self, total));
}

/* Seconds of availability of one provider over local days [d0, d1],
 * windows minus blocks. */
static long long available_seconds(struct atr_ctx *ctx, long long pid,
				   long d0, long d1)
{
	struct sched_clock c = sched_clock_of(ctx);
	struct sched_template *tpl;
	struct sched_interval *busy;
	size_t ntpl, nbusy;
	long long total = 0;
	time_t lo, hi;

	if (sched_load_templates(ctx, pid, &tpl, &ntpl) != ATR_OK || !ntpl)
		return 0;
	lo = sched_local_time(&c, sched_from_days(d0), 0);
	hi = sched_local_time(&c, sched_from_days(d1 + 1), 0);
	if (sched_load_busy(ctx, pid, lo, hi, 0, SCHED_BUSY_BLOCKS, &busy,
			    &nbusy) != ATR_OK)
		return 0;
	for (long day = d0; day <= d1; day++) {
		struct sched_interval w[32];
		size_t nw = sched_day_windows(&c, sched_from_days(day), tpl,
					      ntpl, w, NULL, 32);
		for (size_t i = 0; i < nw; i++)
			total += sched_free_seconds(w[i], busy, nbusy);
	}
	return total;
}

static json_t *fill_rate(struct atr_ctx *ctx, const char *from,
			 const char *to, long d0, long d1, long long provider)
{
	json_t *provs = sched_query(
	    ctx,
	    "SELECT id, display_name FROM scheduling_providers WHERE (? = 0 "
	    "AND active = 1) OR id = ? ORDER BY id",
	    json_pack("[I,I]", (json_int_t)provider, (json_int_t)provider));
	json_t *booked = sched_query(
	    ctx,
	    "SELECT provider_id, SUM(end_utc - start_utc) AS secs FROM "
	    "scheduling_appointments WHERE status IN ('pending', 'booked', "
	    "'arrived', 'checked-in', 'fulfilled', 'noshow') AND local_date "
	    ">= ? AND local_date <= ? GROUP BY provider_id",
	    json_pack("[s,s]", from, to));
	json_t *list = json_array(), *p, *b;
	long long all_avail = 0, all_booked = 0;
	size_t i, j;

	json_array_foreach(provs, i, p)
	{
		long long pid = sched_int(p, "id"), secs = 0;
		long long avail = available_seconds(ctx, pid, d0, d1);
		json_array_foreach(booked, j, b)
		{
			if (sched_int(b, "provider_id") == pid)
				secs = sched_int(b, "secs");
		}
		all_avail += avail;
		all_booked += secs;
		json_array_append_new(
		    list, json_pack("{s:I,s:O,s:I,s:I,s:f}", "provider_id",
				    (json_int_t)pid, "provider_name",
				    json_object_get(p, "display_name"),
				    "available_minutes",
				    (json_int_t)(avail / 60), "booked_minutes",
				    (json_int_t)(secs / 60), "rate",
				    ratio(secs, avail)));
	}
	json_decref(provs);
	json_decref(booked);
	return json_pack("{s:I,s:I,s:f,s:o}", "available_minutes",
			 (json_int_t)(all_avail / 60), "booked_minutes",
			 (json_int_t)(all_booked / 60), "rate",
			 ratio(all_booked, all_avail), "by_provider", list);
}

static json_t *offers(struct atr_ctx *ctx, time_t lo, time_t hi,
		      long long provider)
{
	int st;
	json_t *r = sched_one(
	    ctx,
	    "SELECT COUNT(*) AS sent, SUM(CASE WHEN status = 'accepted' THEN "
	    "1 ELSE 0 END) AS accepted FROM scheduling_offers WHERE "
	    "created_at >= ? AND created_at < ? AND (? = 0 OR provider_id = "
	    "?)",
	    json_pack("[I,I,I,I]", (json_int_t)lo, (json_int_t)hi,
		      (json_int_t)provider, (json_int_t)provider),
	    &st);
	long long sent = sched_int(r, "sent"), acc = sched_int(r, "accepted");
	json_decref(r);
	return json_pack("{s:I,s:I,s:f}", "offers_sent", (json_int_t)sent,
			 "offers_accepted", (json_int_t)acc, "acceptance_rate",
			 ratio(acc, sent));
}

/* GET /metrics?from=YYYY-MM-DD&to=YYYY-MM-DD&provider=ID (care team,
 * admin). Default: the last six months up to today. */
int sched_h_metrics(struct atr_ctx *ctx)
{
	struct sched_clock c = sched_clock_of(ctx);
	const char *fs = sched_api->req_query(ctx, "from");
	const char *ts = sched_api->req_query(ctx, "to");
	struct sched_date today = sched_local_date(&c, sched_api->now(ctx)), d;
	long long provider;
	long d0, d1;
	char from[11], to[11];

	if (sched_query_id(ctx, "provider", &provider) != ATR_OK)
		return ATR_OK;
	d = today;
	d.d = 1;
	d.m -= 5;
	while (d.m < 1) {
		d.m += 12;
		d.y--;
	}
	d0 = sched_days(d);
	d1 = sched_days(today);
	if (fs && *fs) {
		if (sched_parse_date(fs, &d))
			goto bad;
		d0 = sched_days(d);
	}
	if (ts && *ts) {
		if (sched_parse_date(ts, &d))
			goto bad;
		d1 = sched_days(d);
	}
	if (d1 < d0 || d1 - d0 + 1 > MAX_RANGE_DAYS)
		return sched_api->respond_error(
		    ctx, 400, "bad_request",
		    "from must not be after to, and at most %d days apart",
		    MAX_RANGE_DAYS);
	sched_format_date(sched_from_days(d0), from);
	sched_format_date(sched_from_days(d1), to);
	return sched_api->respond_json(
	    ctx, 200,
	    json_pack("{s:s,s:s,s:o,s:o,s:o,s:o}", "from", from, "to", to,
		      "noshow_rate", noshow_rates(ctx, from, to, provider),
		      "self_booked", self_booked(ctx, from, to, provider),
		      "fill_rate", fill_rate(ctx, from, to, d0, d1, provider),
		      "waitlist",
		      offers(ctx, sched_local_time(&c, sched_from_days(d0), 0),
			     sched_local_time(&c, sched_from_days(d1 + 1), 0),
			     provider)));
bad:
	return sched_api->respond_error(ctx, 400, "bad_request",
					"from and to must be dates like "
					"2026-12-01");
}
