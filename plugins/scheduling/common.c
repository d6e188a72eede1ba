/*
 * common.c - helpers every scheduling file uses: error answers, SQL calls
 * that take their parameters, request parsing, the practice clock, and the
 * type, provider and appointment records with their API views.
 *
 * Not a place for rules about who may do what: those live with the routes
 * (booking.c, waitlist.c, ...).
 */
#include "sched.h"

#include <stdlib.h>
#include <string.h>

const struct atr_api *sched_api;
struct sched_config sched_cfg;

/* ---- errors ------------------------------------------------------------ */

int sched_set_err(struct sched_err *e, int status, const char *code,
		  const char *msg)
{
	e->status = status;
	e->code = code;
	e->msg = msg;
	return status;
}

int sched_respond_err(struct atr_ctx *ctx, const struct sched_err *e)
{
	sched_api->respond_error(ctx, e->status ? e->status : 500,
				 e->code ? e->code : "internal_error", "%s",
				 e->msg ? e->msg
					: "the request could not be completed");
	return ATR_OK;
}

int sched_db_fail(struct atr_ctx *ctx, int rc, const char *what)
{
	if (rc == ATR_EBUSY) {
		sched_api->set_header(ctx, "Retry-After", "1");
		sched_api->respond_error(ctx, 503, "busy",
					 "the schedule is busy; try again");
	} else {
		sched_api->respond_error(ctx, 500, "internal_error",
					 "%s cannot be saved or read", what);
	}
	return ATR_OK;
}

int sched_tok_fail(struct atr_ctx *ctx, struct sched_tok *t, int status,
		   const char *code, const char *msg)
{
	t->status = status;
	sched_api->respond_error(ctx, status, code, "%s", msg);
	return ATR_ERESPONDED;
}

void sched_tok_audit(struct atr_ctx *ctx, const struct sched_tok *t,
		     const char *action)
{
	const char *outcome = t->status < 300 ? "ok"
			      : t->status == 401 || t->status == 403
				  ? "denied"
			      : t->status == 404 ? "not_found"
						 : "error";
	sched_api->audit(ctx, action, t->patient_id,
			 t->object ? "scheduling" : NULL, t->object, outcome);
}

/* ---- SQL ---------------------------------------------------------------- */

json_t *sched_one(struct atr_ctx *ctx, const char *sql, json_t *params,
		  int *status)
{
	json_t *row = sched_api->sql_one(ctx, sql, params, status);
	json_decref(params);
	return row;
}

json_t *sched_query(struct atr_ctx *ctx, const char *sql, json_t *params)
{
	json_t *rows = sched_api->sql_query(ctx, sql, params);
	json_decref(params);
	return rows;
}

int sched_exec(struct atr_ctx *ctx, const char *sql, json_t *params,
	       long long *changes, long long *last_id)
{
	int rc = sched_api->sql_exec(ctx, sql, params, changes, last_id);
	json_decref(params);
	return rc;
}

long long sched_int(json_t *row, const char *key)
{
	json_t *v = json_object_get(row, key);
	return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

const char *sched_str(json_t *row, const char *key)
{
	return json_string_value(json_object_get(row, key));
}

/* ---- request helpers ------------------------------------------------- */

static int parse_id(const char *s, long long *out)
{
	long long v = 0;
	if (!s || !*s || strlen(s) > 15)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	if (v <= 0)
		return -1;
	*out = v;
	return 0;
}

int sched_param_id(struct atr_ctx *ctx, const char *name, long long *out)
{
	if (parse_id(sched_api->req_param(ctx, name), out)) {
		sched_api->respond_error(ctx, 404, "not_found",
					 "no such record");
		return ATR_ERESPONDED;
	}
	return ATR_OK;
}

int sched_query_id(struct atr_ctx *ctx, const char *name, long long *out)
{
	const char *s = sched_api->req_query(ctx, name);
	*out = 0;
	if (!s || !*s)
		return ATR_OK;
	if (parse_id(s, out)) {
		sched_api->respond_error(ctx, 400, "bad_request",
					 "%s must be a positive id", name);
		return ATR_ERESPONDED;
	}
	return ATR_OK;
}

int sched_parse_time(struct atr_ctx *ctx, const char *s, const char *field,
		     time_t *out)
{
	if (!s || sched_api->time_parse(ctx, s, out) != ATR_OK) {
		sched_api->respond_error(
		    ctx, 400, "bad_time",
		    "%s must be an RFC 3339 time with a zone, such as "
		    "2026-12-01T14:00:00Z",
		    field);
		return ATR_ERESPONDED;
	}
	return ATR_OK;
}

static time_t clock_to_utc(void *arg, const struct tm *local)
{
	return sched_api->local_to_utc(arg, local);
}

static void clock_to_local(void *arg, time_t t, struct tm *out)
{
	sched_api->utc_to_local(arg, t, out);
}

struct sched_clock sched_clock_of(struct atr_ctx *ctx)
{
	struct sched_clock c = {clock_to_utc, clock_to_local, ctx};
	return c;
}

const char *sched_role_name(unsigned role)
{
	switch (role) {
	case ATR_ROLE_PATIENT:
		return "patient";
	case ATR_ROLE_STAFF:
		return "staff";
	case ATR_ROLE_PHYSICIAN:
		return "physician";
	case ATR_ROLE_ADMIN:
		return "admin";
	default:
		return "system";
	}
}

int sched_is_staff(struct atr_ctx *ctx)
{
	return (sched_api->user_role(ctx) & ATR_ROLES_CARE_TEAM) != 0;
}

json_t *sched_time_json(struct atr_ctx *ctx, time_t t)
{
	return json_string(sched_api->time_format(ctx, t));
}

struct sched_actor sched_actor_of(struct atr_ctx *ctx)
{
	struct sched_actor a;
	a.user_id = sched_api->user_id(ctx);
	a.role = sched_api->user_role(ctx);
	a.via_link = 0;
	return a;
}

/* ---- records ----------------------------------------------------------- */

static const char *dup(struct atr_ctx *ctx, const char *s)
{
	return sched_api->sprintf(ctx, "%s", s ? s : "");
}

int sched_load_type(struct atr_ctx *ctx, long long id, struct sched_type *t)
{
	int st = ATR_OK;
	json_t *row = sched_one(
	    ctx,
	    "SELECT id, name, duration_minutes, self_bookable, "
	    "needs_approval, new_patient, active FROM scheduling_types "
	    "WHERE id = ?",
	    json_pack("[I]", (json_int_t)id), &st);
	if (!row)
		return st == ATR_OK ? ATR_ERR : st;
	t->id = id;
	t->name = dup(ctx, sched_str(row, "name"));
	t->duration_min = (int)sched_int(row, "duration_minutes");
	t->self_bookable = sched_int(row, "self_bookable") != 0;
	t->needs_approval = sched_int(row, "needs_approval") != 0;
	t->new_patient = sched_int(row, "new_patient") != 0;
	t->active = sched_int(row, "active") != 0;
	json_decref(row);
	return ATR_OK;
}

int sched_type_offered(struct atr_ctx *ctx, long long type_id,
		       long long provider_id)
{
	int st;
	json_t *row = sched_one(
	    ctx,
	    "SELECT 1 AS ok FROM scheduling_type_providers tp JOIN "
	    "scheduling_types t ON t.id = tp.type_id JOIN "
	    "scheduling_providers p ON p.id = tp.provider_id WHERE "
	    "tp.type_id = ? AND tp.provider_id = ? AND t.active = 1 AND "
	    "p.active = 1",
	    json_pack("[I,I]", (json_int_t)type_id, (json_int_t)provider_id),
	    &st);
	json_decref(row);
	return row != NULL;
}

const char *sched_provider_name(struct atr_ctx *ctx, long long provider_id,
				const char **location)
{
	int st;
	const char *name = NULL;
	json_t *row = sched_one(ctx,
				"SELECT display_name, location FROM "
				"scheduling_providers WHERE id = ? AND "
				"active = 1",
				json_pack("[I]", (json_int_t)provider_id), &st);
	if (row) {
		name = dup(ctx, sched_str(row, "display_name"));
		if (location)
			*location = dup(ctx, sched_str(row, "location"));
	}
	json_decref(row);
	return name;
}

int sched_load_appt(struct atr_ctx *ctx, long long id, struct sched_appt *a)
{
	int st = ATR_OK;
	json_t *row = sched_one(
	    ctx,
	    "SELECT a.id, a.patient_id, a.provider_id, a.type_id, "
	    "a.booked_by, a.start_utc, a.end_utc, a.status, a.self_booked, "
	    "a.location, a.reminder_leads, t.name AS type_name, "
	    "t.new_patient, p.display_name AS provider_name FROM "
	    "scheduling_appointments a JOIN scheduling_types t ON t.id = "
	    "a.type_id JOIN scheduling_providers p ON p.id = a.provider_id "
	    "WHERE a.id = ?",
	    json_pack("[I]", (json_int_t)id), &st);
	if (!row)
		return st == ATR_OK ? ATR_ERR : st;
	a->id = id;
	a->patient_id = sched_int(row, "patient_id");
	a->provider_id = sched_int(row, "provider_id");
	a->type_id = sched_int(row, "type_id");
	a->booked_by = sched_int(row, "booked_by");
	a->start = (time_t)sched_int(row, "start_utc");
	a->end = (time_t)sched_int(row, "end_utc");
	a->status = dup(ctx, sched_str(row, "status"));
	a->self_booked = sched_int(row, "self_booked") != 0;
	a->location = dup(ctx, sched_str(row, "location"));
	a->leads = dup(ctx, sched_str(row, "reminder_leads"));
	a->type_name = dup(ctx, sched_str(row, "type_name"));
	a->new_patient = sched_int(row, "new_patient") != 0;
	a->provider_name = dup(ctx, sched_str(row, "provider_name"));
	json_decref(row);
	return ATR_OK;
}

json_t *sched_appt_view(struct atr_ctx *ctx, json_t *row)
{
	return json_pack(
	    "{s:I,s:I,s:O,s:I,s:O,s:I,s:O,s:I,s:O,s:o,s:o,s:O,s:b,s:I,s:b,"
	    "s:O,s:I,s:o,s:o}",
	    "id", (json_int_t)sched_int(row, "id"), "patient_id",
	    (json_int_t)sched_int(row, "patient_id"), "patient_name",
	    json_object_get(row, "patient_name"), "provider_id",
	    (json_int_t)sched_int(row, "provider_id"), "provider_name",
	    json_object_get(row, "provider_name"), "type_id",
	    (json_int_t)sched_int(row, "type_id"), "type_name",
	    json_object_get(row, "type_name"), "duration_minutes",
	    (json_int_t)sched_int(row, "duration_minutes"), "location",
	    json_object_get(row, "location"), "start",
	    sched_time_json(ctx, (time_t)sched_int(row, "start_utc")), "end",
	    sched_time_json(ctx, (time_t)sched_int(row, "end_utc")), "status",
	    json_object_get(row, "status"), "self_booked",
	    (int)sched_int(row, "self_booked"), "booked_by",
	    (json_int_t)sched_int(row, "booked_by"), "confirmed",
	    json_is_integer(json_object_get(row, "confirmed_at")),
	    "cancel_reason", json_object_get(row, "cancel_reason"),
	    "reschedule_count", (json_int_t)sched_int(row, "reschedule_count"),
	    "created_at",
	    sched_time_json(ctx, (time_t)sched_int(row, "created_at")),
	    "updated_at",
	    sched_time_json(ctx, (time_t)sched_int(row, "updated_at")));
}

json_t *sched_appt_json(struct atr_ctx *ctx, long long id)
{
	int st;
	json_t *out, *row = sched_one(ctx, SCHED_APPT_SELECT "WHERE a.id = ?",
				      json_pack("[I]", (json_int_t)id), &st);
	if (!row)
		return NULL;
	out = sched_appt_view(ctx, row);
	json_decref(row);
	return out;
}
