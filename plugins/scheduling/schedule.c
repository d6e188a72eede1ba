/*
 * schedule.c - the care team's day and week view: per provider and local
 * day, the availability windows, blocks and appointments (with patient
 * names), in one answer the schedule page renders.
 *
 * Read-only; changes go through booking.c and setup.c.
 */
#include "sched.h"

#include <stdlib.h>
#include <string.h>

#define MAX_DAYS 14

static json_t *day_json(struct atr_ctx *ctx, long day, long long provider,
			const struct sched_template *tpl, size_t ntpl,
			json_t *blocks, json_t *appts)
{
	struct sched_clock c = sched_clock_of(ctx);
	struct sched_date d = sched_from_days(day);
	struct sched_interval w[32];
	size_t which[32], nw, i;
	time_t lo = sched_local_time(&c, d, 0), hi = sched_local_time(&c, d, 1440);
	char date[11];
	json_t *wins = json_array(), *bl = json_array(), *ap = json_array(),
	       *r;

	sched_format_date(d, date);
	nw = sched_day_windows(&c, d, tpl, ntpl, w, which, 32);
	for (i = 0; i < nw; i++)
		json_array_append_new(
		    wins, json_pack("{s:o,s:o,s:s}", "start",
				    sched_time_json(ctx, w[i].start), "end",
				    sched_time_json(ctx, w[i].end), "location",
				    tpl[which[i]].location));
	json_array_foreach(blocks, i, r)
	{
		if (sched_int(r, "start_utc") >= hi ||
		    sched_int(r, "end_utc") <= lo)
			continue;
		json_array_append_new(
		    bl, json_pack("{s:I,s:O,s:o,s:o,s:O}", "id",
				  (json_int_t)sched_int(r, "id"),
				  "provider_id",
				  json_object_get(r, "provider_id"), "start",
				  sched_time_json(
				      ctx, (time_t)sched_int(r, "start_utc")),
				  "end",
				  sched_time_json(
				      ctx, (time_t)sched_int(r, "end_utc")),
				  "reason", json_object_get(r, "reason")));
	}
	json_array_foreach(appts, i, r)
	{
		const char *ld = sched_str(r, "local_date");
		if (sched_int(r, "provider_id") == provider && ld &&
		    !strcmp(ld, date))
			json_array_append_new(ap, sched_appt_view(ctx, r));
	}
	return json_pack("{s:s,s:i,s:o,s:o,s:o}", "date", date, "weekday",
			 sched_weekday(d), "windows", wins, "blocks", bl,
			 "appointments", ap);
}

/* GET /schedule?provider=ID&date=YYYY-MM-DD&days=N&include_cancelled=1 */
int sched_h_schedule(struct atr_ctx *ctx)
{
	struct sched_clock c = sched_clock_of(ctx);
	const char *ds = sched_api->req_query(ctx, "date");
	const char *ns = sched_api->req_query(ctx, "days");
	const char *ic = sched_api->req_query(ctx, "include_cancelled");
	int with_cancelled = ic && !strcmp(ic, "1");
	long long provider;
	struct sched_date d;
	long first, days = 1;
	time_t lo, hi;
	char from[11], to[11];
	json_t *providers, *appts, *out, *p;
	size_t i;

	if (sched_query_id(ctx, "provider", &provider) != ATR_OK)
		return ATR_OK;
	if (ds && *ds) {
		if (sched_parse_date(ds, &d))
			return sched_api->respond_error(
			    ctx, 400, "bad_request",
			    "date must be a date like 2026-12-01");
	} else {
		d = sched_local_date(&c, sched_api->now(ctx));
	}
	if (ns && *ns) {
		days = atol(ns);
		if (days < 1 || days > MAX_DAYS ||
		    strspn(ns, "0123456789") != strlen(ns))
			return sched_api->respond_error(
			    ctx, 400, "bad_request",
			    "days must be between 1 and %d", MAX_DAYS);
	}
	first = sched_days(d);
	sched_format_date(d, from);
	sched_format_date(sched_from_days(first + days - 1), to);
	if (!provider && sched_api->user_role(ctx) == ATR_ROLE_PHYSICIAN &&
	    sched_provider_name(ctx, sched_api->user_id(ctx), NULL))
		provider = sched_api->user_id(ctx);
	providers = sched_query(ctx,
				"SELECT id, display_name, location FROM "
				"scheduling_providers WHERE (? = 0 AND active "
				"= 1) OR id = ? ORDER BY display_name, id",
				json_pack("[I,I]", (json_int_t)provider,
					  (json_int_t)provider));
	if (!providers)
		return sched_db_fail(ctx, ATR_ERR, "the schedule");
	if (provider && !json_array_size(providers)) {
		json_decref(providers);
		return sched_api->respond_error(ctx, 404, "not_found",
						"no such provider");
	}
	appts = sched_query(
	    ctx,
	    SCHED_APPT_SELECT
	    "WHERE a.local_date >= ? AND a.local_date <= ? AND (? = 0 OR "
	    "a.provider_id = ?) AND a.status != 'entered-in-error' AND (? = 1 "
	    "OR a.status != 'cancelled') ORDER BY a.start_utc",
	    json_pack("[s,s,I,I,i]", from, to, (json_int_t)provider,
		      (json_int_t)provider, with_cancelled));
	if (!appts) {
		json_decref(providers);
		return sched_db_fail(ctx, ATR_ERR, "the schedule");
	}
	lo = sched_local_time(&c, d, 0);
	hi = sched_local_time(&c, sched_from_days(first + days), 0);
	out = json_array();
	json_array_foreach(providers, i, p)
	{
		long long pid = sched_int(p, "id");
		struct sched_template *tpl;
		size_t ntpl;
		json_t *blocks, *dl;
		if (sched_load_templates(ctx, pid, &tpl, &ntpl) != ATR_OK)
			continue;
		blocks = sched_query(
		    ctx,
		    "SELECT id, provider_id, start_utc, end_utc, reason FROM "
		    "scheduling_blocks WHERE active = 1 AND (provider_id = ? "
		    "OR provider_id IS NULL) AND start_utc < ? AND end_utc > "
		    "? ORDER BY start_utc",
		    json_pack("[I,I,I]", (json_int_t)pid, (json_int_t)hi,
			      (json_int_t)lo));
		dl = json_array();
		for (long k = 0; k < days; k++)
			json_array_append_new(dl, day_json(ctx, first + k, pid,
							   tpl, ntpl, blocks,
							   appts));
		json_decref(blocks);
		json_array_append_new(
		    out, json_pack("{s:I,s:O,s:O,s:o}", "id", (json_int_t)pid,
				   "display_name",
				   json_object_get(p, "display_name"),
				   "location", json_object_get(p, "location"),
				   "days", dl));
	}
	json_decref(appts);
	json_decref(providers);
	return sched_api->respond_json(
	    ctx, 200,
	    json_pack("{s:s,s:s,s:o}", "from", from, "to", to, "providers",
		      out));
}
