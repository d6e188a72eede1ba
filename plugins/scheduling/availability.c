/*
 * availability.c - open slots: loads a provider's weekly templates, its
 * bookings and blocks, and asks slots.c which starts are free, either to
 * list them (GET /slots) or to check one start before a booking.
 *
 * The check here gives clear 4xx answers; it is not what prevents double
 * booking - the slot claims' primary key does that (booking.c).
 */
#include "sched.h"

#include <stdlib.h>
#include <string.h>

#define MAX_WINDOWS 32
#define MAX_RANGE_DAYS 62
#define DEFAULT_LIMIT 2000
#define MAX_LIMIT 10000

static long date_days_or_none(json_t *v)
{
	struct sched_date d;
	if (!json_is_string(v) || sched_parse_date(json_string_value(v), &d))
		return SCHED_NO_DAY;
	return sched_days(d);
}

int sched_load_templates(struct atr_ctx *ctx, long long provider_id,
			 struct sched_template **out, size_t *n)
{
	json_t *rows = sched_query(
	    ctx,
	    "SELECT location, weekday, start_minute, end_minute, valid_from, "
	    "valid_until FROM scheduling_templates WHERE provider_id = ? AND "
	    "active = 1 ORDER BY weekday, start_minute",
	    json_pack("[I]", (json_int_t)provider_id));
	size_t i, k;
	json_t *row;
	struct sched_template *t;

	*out = NULL;
	*n = 0;
	if (!rows)
		return ATR_ERR;
	k = json_array_size(rows);
	t = sched_api->alloc(ctx, (k ? k : 1) * sizeof(*t));
	if (!t) {
		json_decref(rows);
		return ATR_ENOMEM;
	}
	json_array_foreach(rows, i, row)
	{
		t[i].location = sched_api->sprintf(
		    ctx, "%s", sched_str(row, "location"));
		t[i].weekday = (int)sched_int(row, "weekday");
		t[i].start_min = (int)sched_int(row, "start_minute");
		t[i].end_min = (int)sched_int(row, "end_minute");
		t[i].valid_from =
		    date_days_or_none(json_object_get(row, "valid_from"));
		t[i].valid_until =
		    date_days_or_none(json_object_get(row, "valid_until"));
	}
	json_decref(rows);
	*out = t;
	*n = k;
	return ATR_OK;
}

/* Busy intervals appended straight from the rows: a search reads
 * thousands of them. */
struct busy_acc {
	struct atr_ctx *ctx;
	struct sched_interval *v;
	size_t n, cap;
	int rc;
};

static int busy_row(void *arg, const struct atr_cols *row)
{
	struct busy_acc *a = arg;
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		struct sched_interval *nv =
		    sched_api->alloc(a->ctx, cap * sizeof(*nv));
		if (!nv) {
			a->rc = ATR_ENOMEM;
			return 1;
		}
		if (a->n)
			memcpy(nv, a->v, a->n * sizeof(*nv));
		a->v = nv;
		a->cap = cap;
	}
	a->v[a->n].start = (time_t)sched_api->col_int(row, 0);
	a->v[a->n].end = (time_t)sched_api->col_int(row, 1);
	a->n++;
	return 0;
}

int sched_load_busy(struct atr_ctx *ctx, long long provider_id, time_t from,
		    time_t to, long long exclude, unsigned what,
		    struct sched_interval **out, size_t *n)
{
	struct busy_acc a = {ctx, NULL, 0, 0, ATR_OK};
	json_t *params;
	int rc = ATR_OK;

	*out = NULL;
	*n = 0;
	if (what & SCHED_BUSY_BOOKINGS) {
		/* No visit is longer than SCHED_MAX_DURATION_MIN. */
		params = json_pack("[I,I,I,I]", (json_int_t)provider_id,
				   (json_int_t)(from -
						SCHED_MAX_DURATION_MIN * 60),
				   (json_int_t)to, (json_int_t)exclude);
		rc = sched_api->sql_each_cols(ctx, SCHED_BUSY_SQL, params,
					      busy_row, &a);
		json_decref(params);
	}
	if (rc == ATR_OK && a.rc == ATR_OK && (what & SCHED_BUSY_BLOCKS)) {
		params = json_pack("[I,I,I]", (json_int_t)provider_id,
				   (json_int_t)to, (json_int_t)from);
		rc = sched_api->sql_each_cols(
		    ctx,
		    "SELECT start_utc, end_utc FROM scheduling_blocks WHERE "
		    "active = 1 AND (provider_id = ? OR provider_id IS NULL) "
		    "AND start_utc < ? AND end_utc > ? ORDER BY start_utc",
		    params, busy_row, &a);
		json_decref(params);
	}
	if (rc == ATR_OK)
		rc = a.rc;
	if (rc != ATR_OK)
		return rc;
	*out = a.v;
	*n = a.n;
	return ATR_OK;
}

int sched_check_slot(struct atr_ctx *ctx, long long provider_id,
		     const struct sched_type *t, time_t start,
		     long long exclude, const char **location,
		     struct sched_err *e)
{
	struct sched_clock c = sched_clock_of(ctx);
	struct sched_interval w[MAX_WINDOWS], *busy;
	struct sched_template *tpl;
	size_t ntpl, nw, nbusy, which[MAX_WINDOWS];
	time_t now = sched_api->now(ctx);
	int dur = t->duration_min * 60, win;

	if (!t->active || !sched_type_offered(ctx, t->id, provider_id))
		return sched_set_err(e, 422, "type_not_offered",
				     "this provider does not offer that type "
				     "of visit");
	if (start <= now)
		return sched_set_err(e, 422, "in_past",
				     "that time is in the past");
	if (start > now + (time_t)sched_cfg.max_days * 86400)
		return sched_set_err(
		    e, 422, "too_far_ahead",
		    sched_api->sprintf(ctx,
				       "visits can be booked at most %d days "
				       "ahead",
				       sched_cfg.max_days));
	if (sched_load_templates(ctx, provider_id, &tpl, &ntpl) != ATR_OK)
		return sched_set_err(e, 500, "internal_error",
				     "the schedule cannot be read");
	nw = sched_day_windows(&c, sched_local_date(&c, start), tpl, ntpl, w,
			       which, MAX_WINDOWS);
	win = sched_on_grid(w, nw, sched_cfg.step_s, dur, start);
	if (start % SCHED_GRANULE || win < 0)
		return sched_set_err(e, 422, "outside_availability",
				     "that time is not one of the provider's "
				     "open slots");
	if (sched_load_busy(ctx, provider_id, start, start + dur, exclude,
			    SCHED_BUSY_BLOCKS, &busy, &nbusy) != ATR_OK)
		return sched_set_err(e, 500, "internal_error",
				     "the schedule cannot be read");
	if (sched_overlaps(busy, nbusy, start, start + dur))
		return sched_set_err(e, 422, "blocked",
				     "the provider is not available at that "
				     "time");
	if (sched_load_busy(ctx, provider_id, start, start + dur, exclude,
			    SCHED_BUSY_BOOKINGS, &busy, &nbusy) != ATR_OK)
		return sched_set_err(e, 500, "internal_error",
				     "the schedule cannot be read");
	if (sched_overlaps(busy, nbusy, start, start + dur))
		return sched_set_err(e, 409, "slot_taken",
				     "that time is already taken; please "
				     "choose another");
	if (location)
		*location = tpl[which[win]].location;
	return ATR_OK;
}

/* ---- GET /slots ------------------------------------------------------- */

struct slot {
	time_t start;
	long long provider_id;
	const char *location;
};

static int cmp_slot(const void *a, const void *b)
{
	const struct slot *x = a, *y = b;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->provider_id < y->provider_id   ? -1
	       : x->provider_id > y->provider_id ? 1
						 : 0;
}

/* The first `limit` slots of runs[0..nruns) of v merged in (start,
 * provider) order into out; returns how many. A run is one provider's
 * slots (providers in ascending id), in time order unless two of its
 * windows overlapped: such a run is sorted first. Merging the runs costs
 * far less than sorting every slot found when only `limit` are wanted. */
struct run {
	size_t at, end;
};

static size_t merge_runs(struct slot *v, struct run *runs, size_t nruns,
			 struct slot *out, size_t limit)
{
	size_t m = 0;

	for (size_t r = 0; r < nruns; r++)
		for (size_t i = runs[r].at + 1; i < runs[r].end; i++)
			if (cmp_slot(&v[i - 1], &v[i]) > 0) {
				qsort(v + runs[r].at, runs[r].end - runs[r].at,
				      sizeof(*v), cmp_slot);
				break;
			}
	while (m < limit) {
		size_t best = nruns;
		for (size_t r = 0; r < nruns; r++)
			if (runs[r].at < runs[r].end &&
			    (best == nruns || v[runs[r].at].start <
						  v[runs[best].at].start))
				best = r;
		if (best == nruns)
			break;
		out[m++] = v[runs[best].at++];
	}
	return m;
}

/* Parses ?from= and ?to= (practice-local dates) with defaults and limits;
 * writes a 400 and returns ATR_ERESPONDED on bad input. */
static int date_range(struct atr_ctx *ctx, struct sched_date today,
		      long max_span, long default_span, long *from, long *to)
{
	const char *fs = sched_api->req_query(ctx, "from");
	const char *ts = sched_api->req_query(ctx, "to");
	struct sched_date d;

	*from = sched_days(today);
	if (fs && *fs) {
		if (sched_parse_date(fs, &d))
			goto bad;
		*from = sched_days(d);
	}
	*to = *from + default_span;
	if (ts && *ts) {
		if (sched_parse_date(ts, &d))
			goto bad;
		*to = sched_days(d);
	}
	if (*to < *from) {
		sched_api->respond_error(ctx, 400, "bad_request",
					 "to must not be before from");
		return ATR_ERESPONDED;
	}
	if (*to - *from + 1 > max_span) {
		sched_api->respond_error(ctx, 400, "bad_request",
					 "ask for at most %ld days at once",
					 max_span);
		return ATR_ERESPONDED;
	}
	return ATR_OK;
bad:
	sched_api->respond_error(ctx, 400, "bad_request",
				 "from and to must be dates like 2026-12-01");
	return ATR_ERESPONDED;
}

static int cmp_interval(const void *a, const void *b)
{
	const struct sched_interval *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* Sorts v by start and merges overlapping or touching intervals in
 * place; returns the new count. */
static size_t merge_busy(struct sched_interval *v, size_t n)
{
	size_t k = 0;
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_interval);
	for (size_t i = 1; i < n; i++) {
		if (v[i].start <= v[k].end) {
			if (v[i].end > v[k].end)
				v[k].end = v[i].end;
		} else {
			v[++k] = v[i];
		}
	}
	return k + 1;
}

/* The first of the n sorted, disjoint intervals that ends after t. */
static size_t first_ending_after(const struct sched_interval *v, size_t n,
				 time_t t)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid].end <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Open slots of one provider over local days [from, to] into v. */
static int provider_slots(struct atr_ctx *ctx, long long provider_id,
			  const struct sched_type *t, long from, long to,
			  time_t now, struct slot **v, size_t *n, size_t *cap,
			  size_t limit)
{
	struct sched_clock c = sched_clock_of(ctx);
	struct sched_template *tpl;
	struct sched_interval *busy;
	size_t ntpl, nbusy;
	time_t lo, hi, horizon = now + (time_t)sched_cfg.max_days * 86400;
	int dur = t->duration_min * 60;
	size_t mine = 0;

	if (sched_load_templates(ctx, provider_id, &tpl, &ntpl) != ATR_OK)
		return ATR_ERR;
	if (!ntpl)
		return ATR_OK;
	lo = sched_local_time(&c, sched_from_days(from), 0) - 86400;
	hi = sched_local_time(&c, sched_from_days(to + 1), 0) + 86400;
	if (sched_load_busy(ctx, provider_id, lo, hi, 0,
			    SCHED_BUSY_BOOKINGS | SCHED_BUSY_BLOCKS, &busy,
			    &nbusy) != ATR_OK)
		return ATR_ERR;
	/* disjoint and sorted, so each window looks only at its own */
	nbusy = merge_busy(busy, nbusy);
	for (long day = from; day <= to; day++) {
		struct sched_interval w[MAX_WINDOWS];
		size_t which[MAX_WINDOWS];
		size_t nw = sched_day_windows(&c, sched_from_days(day), tpl,
					      ntpl, w, which, MAX_WINDOWS);
		for (size_t i = 0; i < nw; i++) {
			time_t starts[512];
			size_t b0 = first_ending_after(busy, nbusy, w[i].start);
			size_t b1 = b0;
			while (b1 < nbusy && busy[b1].start < w[i].end)
				b1++;
			size_t k = sched_window_slots(
			    w[i], sched_cfg.step_s, dur, now, horizon,
			    busy ? busy + b0 : NULL, b1 - b0, starts, 512);
			if (k > 512)
				k = 512;
			/* the earliest limit + 1 of each provider: enough to
			 * know the merged list is truncated */
			for (size_t j = 0; j < k && mine <= limit; j++) {
				if (*n == *cap) {
					size_t nc = *cap ? *cap * 2 : 256;
					struct slot *nv = sched_api->alloc(
					    ctx, nc * sizeof(*nv));
					if (!nv)
						return ATR_ENOMEM;
					if (*n)
						memcpy(nv, *v,
						       *n * sizeof(*nv));
					*v = nv;
					*cap = nc;
				}
				(*v)[*n].start = starts[j];
				(*v)[*n].provider_id = provider_id;
				(*v)[*n].location = tpl[which[i]].location;
				(*n)++;
				mine++;
			}
		}
	}
	return ATR_OK;
}

/* GET /slots?type=ID&provider=ID&from=YYYY-MM-DD&to=YYYY-MM-DD&limit=N */
/* ---- the answer, written as text ---------------------------------------- */

/* A search answers thousands of slots; building them as jansson values
 * cost more than finding them. The text is what respond_json would write
 * for {"slots":[{"start","end","provider_id","type_id","location",
 * "status"}...],"truncated":b}. */
struct text {
	char *p;
	size_t len, cap;
	int failed;
};

static void put(struct text *t, const char *s, size_t n)
{
	if (t->failed)
		return;
	if (t->len + n > t->cap) {
		size_t cap = t->cap ? t->cap : 4096;
		char *np;
		while (cap < t->len + n)
			cap *= 2;
		np = realloc(t->p, cap);
		if (!np) {
			t->failed = 1;
			return;
		}
		t->p = np;
		t->cap = cap;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
}

#define PUT(t, lit) put(t, lit, sizeof(lit) - 1)

static void put_int(struct text *t, long long v)
{
	char b[24], *e = b + sizeof(b), *q = e;
	unsigned long long u = v < 0 ? 0ull - (unsigned long long)v
				     : (unsigned long long)v;
	do {
		*--q = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--q = '-';
	put(t, q, (size_t)(e - q));
}

/* "2026-11-26T17:00:00Z", as api->time_format writes it, by arithmetic
 * (days to civil date, proleptic Gregorian). */
static void put_time(struct text *t, time_t when)
{
	long long days = (long long)when / 86400, secs = (long long)when % 86400;
	long long z, era, doe, yoe, y, doy, mp, d, m;
	char b[22];
	if (secs < 0) {
		secs += 86400;
		days--;
	}
	z = days + 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	if (y < 0 || y > 9999) {
		put(t, "\"\"", 2);
		return;
	}
	b[0] = '"';
	b[1] = (char)('0' + y / 1000);
	b[2] = (char)('0' + y / 100 % 10);
	b[3] = (char)('0' + y / 10 % 10);
	b[4] = (char)('0' + y % 10);
	b[5] = '-';
	b[6] = (char)('0' + m / 10);
	b[7] = (char)('0' + m % 10);
	b[8] = '-';
	b[9] = (char)('0' + d / 10);
	b[10] = (char)('0' + d % 10);
	b[11] = 'T';
	b[12] = (char)('0' + secs / 36000);
	b[13] = (char)('0' + secs / 3600 % 10);
	b[14] = ':';
	b[15] = (char)('0' + secs % 3600 / 600);
	b[16] = (char)('0' + secs % 3600 / 60 % 10);
	b[17] = ':';
	b[18] = (char)('0' + secs % 60 / 10);
	b[19] = (char)('0' + secs % 10);
	b[20] = 'Z';
	b[21] = '"';
	put(t, b, 22);
}

/* A location as a JSON string; jansson escapes it, once per template. */
static void put_location(struct text *t, const char *loc, const char **last,
			 char **last_text)
{
	if (loc != *last) {
		json_t *s = json_string(loc ? loc : "");
		free(*last_text);
		*last_text = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
		json_decref(s);
		*last = loc;
	}
	if (*last_text)
		put(t, *last_text, strlen(*last_text));
	else
		PUT(t, "null");
}

static int write_slots(struct atr_ctx *ctx, const struct slot *v, size_t n,
		       int truncated, long long type_id, time_t duration)
{
	struct text t = {NULL, 0, 0, 0};
	const char *last = NULL;
	char *last_text = NULL;
	int rc;

	PUT(&t, "{\"slots\":[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			PUT(&t, ",");
		PUT(&t, "{\"start\":");
		put_time(&t, v[i].start);
		PUT(&t, ",\"end\":");
		put_time(&t, v[i].start + duration);
		PUT(&t, ",\"provider_id\":");
		put_int(&t, v[i].provider_id);
		PUT(&t, ",\"type_id\":");
		put_int(&t, type_id);
		PUT(&t, ",\"location\":");
		put_location(&t, v[i].location, &last, &last_text);
		PUT(&t, ",\"status\":\"free\"}");
	}
	if (truncated)
		PUT(&t, "],\"truncated\":true}");
	else
		PUT(&t, "],\"truncated\":false}");
	free(last_text);
	rc = t.failed ? sched_api->respond_error(ctx, 500, "internal_error",
						  "out of memory")
		      : sched_api->respond_text(ctx, 200, "application/json",
						 t.p, t.len);
	free(t.p);
	return rc;
}

int sched_h_slots(struct atr_ctx *ctx)
{
	struct sched_clock c = sched_clock_of(ctx);
	struct sched_type t;
	long long type_id, provider_id;
	long from, to, today;
	time_t now = sched_api->now(ctx);
	const char *ls = sched_api->req_query(ctx, "limit");
	size_t limit = DEFAULT_LIMIT, n = 0, cap = 0, i, nruns = 0;
	struct slot *v = NULL, *out;
	struct run *runs;
	json_t *providers, *row;
	int rc;

	if (sched_query_id(ctx, "type", &type_id) != ATR_OK ||
	    sched_query_id(ctx, "provider", &provider_id) != ATR_OK)
		return ATR_OK;
	if (!type_id)
		return sched_api->respond_error(ctx, 400, "bad_request",
						"type is required");
	if (ls && *ls) {
		long long l = atoll(ls);
		if (l < 1 || l > MAX_LIMIT || strspn(ls, "0123456789") !=
						    strlen(ls))
			return sched_api->respond_error(
			    ctx, 400, "bad_request",
			    "limit must be between 1 and %d", MAX_LIMIT);
		limit = (size_t)l;
	}
	today = sched_days(sched_local_date(&c, now));
	if (date_range(ctx, sched_local_date(&c, now), MAX_RANGE_DAYS, 6,
		       &from, &to) != ATR_OK)
		return ATR_OK;
	rc = sched_load_type(ctx, type_id, &t);
	if (rc == ATR_ENOTFOUND || (rc == ATR_OK && !t.active))
		return sched_api->respond_error(ctx, 404, "not_found",
						"no such appointment type");
	if (rc != ATR_OK)
		return sched_db_fail(ctx, rc, "the schedule");
	if (from < today)
		from = today;
	if (to > today + sched_cfg.max_days)
		to = today + sched_cfg.max_days;
	providers = sched_query(
	    ctx,
	    "SELECT p.id FROM scheduling_providers p JOIN "
	    "scheduling_type_providers tp ON tp.provider_id = p.id WHERE "
	    "tp.type_id = ? AND p.active = 1 AND (? = 0 OR p.id = ?) ORDER "
	    "BY p.id",
	    json_pack("[I,I,I]", (json_int_t)type_id, (json_int_t)provider_id,
		      (json_int_t)provider_id));
	if (!providers)
		return sched_db_fail(ctx, ATR_ERR, "the schedule");
	runs = sched_api->alloc(
	    ctx, (json_array_size(providers) + 1) * sizeof(*runs));
	if (!runs) {
		json_decref(providers);
		return sched_db_fail(ctx, ATR_ENOMEM, "the schedule");
	}
	json_array_foreach(providers, i, row)
	{
		if (from > to)
			break;
		runs[nruns].at = n;
		rc = provider_slots(ctx, sched_int(row, "id"), &t, from, to,
				    now, &v, &n, &cap, limit);
		if (rc != ATR_OK) {
			json_decref(providers);
			return sched_db_fail(ctx, rc, "the schedule");
		}
		runs[nruns++].end = n;
	}
	json_decref(providers);
	/* + 1: never a request for no bytes, whose NULL means nothing */
	out = sched_api->alloc(ctx, (n < limit ? n : limit) * sizeof(*out) + 1);
	if (!out)
		return sched_db_fail(ctx, ATR_ENOMEM, "the schedule");
	return write_slots(ctx, out, merge_runs(v, runs, nruns, out, limit),
			   n > limit, type_id, t.duration_min * 60);
}
