/*
 * booking.c - appointments: book, list, read, cancel, reschedule, approve,
 * decline and the visit statuses, with the appointment.* workflow events.
 *
 * Double booking is impossible because every active appointment owns the
 * scheduling_slot_claims rows of the granules it covers (primary key
 * provider + granule) and the partial unique index over active bookings'
 * (provider, start): an insert that would overlap fails with ATR_ECONFLICT
 * and the whole transaction rolls back. The availability check before it
 * only turns bad input into clear 4xx answers.
 *
 * Not here: slot listing (availability.c), reminders (reminders.c), the
 * waitlist (waitlist.c), day views (schedule.c).
 */
#include "sched.h"

#include <stdlib.h>
#include <string.h>

#define MAX_GRANULES (SCHED_MAX_DURATION_MIN * 60 / SCHED_GRANULE)

static const char *const patient_cancellable[] = {"pending", "booked", NULL};
static const char *const cancellable[] = {"pending", "booked", "arrived",
					  "checked-in", NULL};

static int in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(s, *list))
			return 1;
	return 0;
}

static int is_active(const char *status)
{
	return in_list(status, cancellable);
}

/* ---- storage ---------------------------------------------------------- */

/* Claims every granule of [start, end) for the appointment. */
static int claim(struct atr_ctx *ctx, long long appt_id, long long provider,
		 time_t start, time_t end)
{
	time_t g[MAX_GRANULES];
	int n = sched_claim_granules(start, end, g, MAX_GRANULES);
	size_t len;
	char *sql, *p;
	json_t *params;

	if (n <= 0)
		return ATR_EINVAL;
	len = 80 + (size_t)n * 12;
	sql = sched_api->alloc(ctx, len);
	params = json_array();
	if (!sql || !params) {
		json_decref(params);
		return ATR_ENOMEM;
	}
	p = sql + sprintf(sql, "INSERT INTO scheduling_slot_claims "
			       "(provider_id, slot_utc, appointment_id) "
			       "VALUES ");
	for (int i = 0; i < n; i++) {
		p += sprintf(p, i ? ", (?, ?, ?)" : "(?, ?, ?)");
		json_array_append_new(params, json_integer(provider));
		json_array_append_new(params, json_integer((json_int_t)g[i]));
		json_array_append_new(params, json_integer(appt_id));
	}
	return sched_exec(ctx, sql, params, NULL, NULL);
}

static int unclaim(struct atr_ctx *ctx, long long appt_id)
{
	return sched_exec(ctx,
			  "DELETE FROM scheduling_slot_claims WHERE "
			  "appointment_id = ?",
			  json_pack("[I]", (json_int_t)appt_id), NULL, NULL);
}

static const char *local_date_text(struct atr_ctx *ctx, time_t t)
{
	struct sched_clock c = sched_clock_of(ctx);
	char *buf = sched_api->alloc(ctx, 11);
	if (buf)
		sched_format_date(sched_local_date(&c, t), buf);
	return buf ? buf : "";
}

int sched_insert_appt(struct atr_ctx *ctx, const struct sched_new *n,
		      long long *id)
{
	time_t now = sched_api->now(ctx);
	time_t end = n->start + n->type->duration_min * 60;
	int rc = sched_exec(
	    ctx,
	    "INSERT INTO scheduling_appointments (patient_id, provider_id, "
	    "type_id, location, start_utc, end_utc, local_date, status, "
	    "booked_by, self_booked, reminder_leads, created_at, updated_at) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	    json_pack("[I,I,I,s,I,I,s,s,I,i,s,I,I]", (json_int_t)n->patient_id,
		      (json_int_t)n->provider_id, (json_int_t)n->type->id,
		      n->location, (json_int_t)n->start, (json_int_t)end,
		      local_date_text(ctx, n->start), n->status,
		      (json_int_t)n->booked_by, n->self_booked, n->leads,
		      (json_int_t)now, (json_int_t)now),
	    NULL, id);
	if (rc != ATR_OK)
		return rc;
	return claim(ctx, *id, n->provider_id, n->start, end);
}

int sched_move_appt(struct atr_ctx *ctx, const struct sched_appt *a,
		    long long provider_id, time_t start, time_t end,
		    const char *location, const char *status,
		    const char *leads)
{
	time_t now = sched_api->now(ctx);
	int rc = unclaim(ctx, a->id);
	if (rc != ATR_OK)
		return rc;
	rc = sched_exec(
	    ctx,
	    "UPDATE scheduling_appointments SET provider_id = ?, start_utc = "
	    "?, end_utc = ?, local_date = ?, location = ?, status = ?, "
	    "reminder_leads = ?, confirmed_at = NULL, reschedule_count = "
	    "reschedule_count + 1, updated_at = ? WHERE id = ?",
	    json_pack("[I,I,I,s,s,s,s,I,I]", (json_int_t)provider_id,
		      (json_int_t)start, (json_int_t)end,
		      local_date_text(ctx, start), location, status, leads,
		      (json_int_t)now, (json_int_t)a->id),
	    NULL, NULL);
	if (rc != ATR_OK)
		return rc;
	return claim(ctx, a->id, provider_id, start, end);
}

/* ---- workflow events -------------------------------------------------- */

/* The patient's own physician: the assigned one, else the provider of
 * their latest fulfilled visit; 0 when neither. */
static long long primary_provider(struct atr_ctx *ctx, long long patient_id)
{
	int st;
	long long id = 0;
	json_t *row = sched_one(
	    ctx,
	    "SELECT provider_id FROM scheduling_primary_providers WHERE "
	    "patient_id = ?",
	    json_pack("[I]", (json_int_t)patient_id), &st);
	if (!row)
		row = sched_one(
		    ctx,
		    "SELECT provider_id FROM scheduling_appointments WHERE "
		    "patient_id = ? AND status = 'fulfilled' ORDER BY "
		    "start_utc DESC LIMIT 1",
		    json_pack("[I]", (json_int_t)patient_id), &st);
	if (row)
		id = sched_int(row, "provider_id");
	json_decref(row);
	return id;
}

static long long count_status(struct atr_ctx *ctx, long long patient_id,
			      const char *status)
{
	int st;
	long long n = 0;
	json_t *row = sched_one(ctx,
				"SELECT COUNT(*) AS n FROM "
				"scheduling_appointments WHERE patient_id = "
				"? AND status = ?",
				json_pack("[I,s]", (json_int_t)patient_id,
					  status),
				&st);
	if (row)
		n = sched_int(row, "n");
	json_decref(row);
	return n;
}

/* Fields every appointment event carries. */
static json_t *base_payload(struct atr_ctx *ctx, long long appointment_id,
			    long long patient_id, long long provider_id,
			    long long type_id, const char *type_name,
			    int new_patient, time_t start, time_t end,
			    const char *status, int self_booked)
{
	struct sched_clock c = sched_clock_of(ctx);
	time_t now = sched_api->now(ctx);
	char stamp[17], today[11];
	long long primary = primary_provider(ctx, patient_id);

	sched_local_stamp(&c, start, stamp);
	sched_format_date(sched_local_date(&c, now), today);
	return json_pack(
	    "{s:o,s:I,s:I,s:I,s:s,s:b,s:o,s:o,s:s,s:s,s:I,s:s,s:b,s:o,s:I}",
	    "appointment_id",
	    appointment_id ? json_integer(appointment_id) : json_null(),
	    "patient_id", (json_int_t)patient_id, "provider_id",
	    (json_int_t)provider_id, "type_id", (json_int_t)type_id,
	    "type_name", type_name, "new_patient", new_patient, "start",
	    sched_time_json(ctx, start), "end", sched_time_json(ctx, end),
	    "start_local", stamp, "today", today, "minutes_until_start",
	    (json_int_t)((start - now) / 60), "status", status, "self_booked",
	    self_booked, "patient_primary_provider_id",
	    primary ? json_integer(primary) : json_null(),
	    "patient_visit_count",
	    (json_int_t)count_status(ctx, patient_id, "fulfilled"));
}

int sched_before_book(struct atr_ctx *ctx, const char *action,
		      const struct sched_new *n, long long appointment_id,
		      const char **status, const char **leads,
		      struct sched_err *e)
{
	const char *reason = NULL, *s;
	long tmp[SCHED_MAX_LEADS];
	json_t *ev = base_payload(
	    ctx, appointment_id, n->patient_id, n->provider_id, n->type->id,
	    n->type->name, n->type->new_patient, n->start,
	    n->start + n->type->duration_min * 60, n->status, n->self_booked);
	int rc;

	*status = n->status;
	*leads = n->leads;
	if (!ev)
		return sched_set_err(e, 500, "internal_error",
				     "the booking cannot be checked");
	json_object_set_new(ev, "action", json_string(action));
	json_object_set_new(ev, "location", json_string(n->location));
	json_object_set_new(ev, "reminder_leads", json_string(n->leads));
	json_object_set_new(ev, "booked_by_role",
			    json_string(sched_role_name(
				sched_api->user_role(ctx))));
	rc = sched_api->emit(ctx, "appointment.before_book", ev, &reason);
	if (rc == ATR_EDENIED) {
		json_decref(ev);
		return sched_set_err(
		    e, 403, "denied_by_rule",
		    reason && *reason ? reason
				      : "the practice's rules do not allow "
					"this booking");
	}
	s = sched_str(ev, "status");
	if (s && (!strcmp(s, "pending") || !strcmp(s, "booked")))
		*status = sched_api->sprintf(ctx, "%s", s);
	else
		sched_api->log(ctx, ATR_LOG_WARN,
			       "appointment.before_book: a rule set status to "
			       "something other than pending or booked; kept "
			       "'%s'",
			       n->status);
	s = sched_str(ev, "reminder_leads");
	if (s && sched_parse_leads(s, tmp) > 0)
		*leads = sched_api->sprintf(ctx, "%s", s);
	else
		sched_api->log(ctx, ATR_LOG_WARN,
			       "appointment.before_book: reminder_leads is not "
			       "a list like \"72h,24h,2h\"; kept the default");
	json_decref(ev);
	return ATR_OK;
}

static json_t *appt_payload(struct atr_ctx *ctx, const struct sched_appt *a)
{
	return base_payload(ctx, a->id, a->patient_id, a->provider_id,
			    a->type_id, a->type_name, a->new_patient, a->start,
			    a->end, a->status, a->self_booked);
}

void sched_after_book(struct atr_ctx *ctx, const char *action,
		      long long appointment_id)
{
	struct sched_appt a;
	json_t *ev;
	if (sched_load_appt(ctx, appointment_id, &a) != ATR_OK)
		return;
	ev = appt_payload(ctx, &a);
	if (!ev)
		return;
	json_object_set_new(ev, "action", json_string(action));
	json_object_set_new(ev, "location", json_string(a.location));
	json_object_set_new(ev, "reminder_leads", json_string(a.leads));
	json_object_set_new(ev, "booked_by_role",
			    json_string(sched_role_name(
				sched_api->user_role(ctx))));
	sched_api->emit(ctx, "appointment.after_book", ev, NULL);
	json_decref(ev);
}

/* ---- cancel ------------------------------------------------------------ */

int sched_cancel_appt(struct atr_ctx *ctx, const struct sched_appt *a,
		      const struct sched_actor *who, const char *reason,
		      int declined, struct sched_err *e)
{
	int as_patient = who->via_link || who->role == ATR_ROLE_PATIENT;
	time_t now = sched_api->now(ctx);
	const char *why = NULL, *stored;
	long long changed = 0;
	json_t *ev;
	int rc;

	if (declined && strcmp(a->status, "pending"))
		return sched_set_err(e, 409, "not_pending",
				     "only pending requests can be declined");
	if (!in_list(a->status, as_patient ? patient_cancellable
					   : cancellable))
		return sched_set_err(e, 409, "not_cancellable",
				     "this appointment can no longer be "
				     "cancelled");
	if (as_patient && !strcmp(a->status, "booked") &&
	    !sched_cutoff_ok(now, a->start, sched_cfg.cutoff_hours))
		return sched_set_err(
		    e, 422, "cutoff",
		    sched_api->sprintf(ctx,
				       "appointments can be changed online "
				       "up to %ld hours before the visit; "
				       "please call the practice",
				       sched_cfg.cutoff_hours));
	ev = appt_payload(ctx, a);
	if (!ev)
		return sched_set_err(e, 500, "internal_error",
				     "the appointment cannot be cancelled");
	json_object_set_new(ev, "cancelled_by_role",
			    json_string(who->via_link
					    ? "patient"
					    : sched_role_name(who->role)));
	json_object_set_new(ev, "reason", json_string(reason ? reason : ""));
	json_object_set_new(ev, "declined", json_boolean(declined));
	if (sched_api->emit(ctx, "appointment.before_cancel", ev, &why) ==
	    ATR_EDENIED) {
		json_decref(ev);
		return sched_set_err(
		    e, 403, "denied_by_rule",
		    why && *why ? why
				: "the practice's rules do not allow this "
				  "cancellation");
	}
	stored = declined ? (reason && *reason ? sched_api->sprintf(
							 ctx, "declined: %s",
							 reason)
					       : "declined")
			  : (reason && *reason ? reason : NULL);
	rc = sched_api->tx_begin(ctx);
	if (rc == ATR_OK)
		rc = sched_exec(
		    ctx,
		    "UPDATE scheduling_appointments SET status = 'cancelled', "
		    "cancel_reason = ?, cancelled_by = ?, updated_at = ? "
		    "WHERE id = ? AND status = ?",
		    json_pack("[s?,o,I,I,s]", stored,
			      who->user_id ? json_integer(who->user_id)
					   : json_null(),
			      (json_int_t)now, (json_int_t)a->id, a->status),
		    &changed, NULL);
	if (rc == ATR_OK && !changed) {
		sched_api->tx_rollback(ctx);
		json_decref(ev);
		return sched_set_err(e, 409, "changed",
				     "the appointment has just changed; "
				     "reload and try again");
	}
	if (rc == ATR_OK)
		rc = unclaim(ctx, a->id);
	if (rc == ATR_OK)
		rc = sched_cancel_reminders(ctx, a->id);
	if (rc == ATR_OK) {
		sched_notice(ctx, a->id,
			     declined ? "declined"
				      : "cancelled");
		rc = sched_api->tx_commit(ctx);
	}
	if (rc != ATR_OK) {
		sched_api->tx_rollback(ctx);
		json_decref(ev);
		return sched_set_err(e, rc == ATR_EBUSY ? 503 : 500,
				     rc == ATR_EBUSY ? "busy"
						     : "internal_error",
				     "the appointment cannot be cancelled "
				     "right now");
	}
	json_object_set_new(ev, "status", json_string("cancelled"));
	sched_api->emit(ctx, "appointment.after_cancel", ev, NULL);
	json_decref(ev);
	if (a->start > now)
		sched_offer_freed(ctx, a->provider_id, a->start);
	return ATR_OK;
}

/* ---- routes ------------------------------------------------------------ */

static int respond_appt(struct atr_ctx *ctx, int status, long long id)
{
	json_t *view = sched_appt_json(ctx, id);
	if (!view)
		return sched_db_fail(ctx, ATR_ERR, "the appointment");
	return sched_api->respond_json(ctx, status,
				       json_pack("{s:o}", "appointment", view));
}

/* Loads :id and checks the caller may see it (404 otherwise). */
static int load_param_appt(struct atr_ctx *ctx, struct sched_appt *a)
{
	long long id;
	int rc;
	if (sched_param_id(ctx, "id", &id) != ATR_OK)
		return ATR_ERESPONDED;
	rc = sched_load_appt(ctx, id, a);
	if (rc == ATR_ENOTFOUND) {
		sched_api->respond_error(ctx, 404, "not_found",
					 "no such record");
		return ATR_ERESPONDED;
	}
	if (rc != ATR_OK) {
		sched_db_fail(ctx, rc, "the appointment");
		return ATR_ERESPONDED;
	}
	if (sched_api->check_patient(ctx, a->patient_id) != ATR_OK)
		return ATR_ERESPONDED;
	return ATR_OK;
}

static const struct atr_field book_fields[] = {
    {"type_id", ATR_F_INT, 1, 0},
    {"provider_id", ATR_F_INT, 1, 0},
    {"start", ATR_F_STRING, 1, 64},
    {"patient_id", ATR_F_INT, 0, 0},
    {NULL, 0, 0, 0},
};

/* POST /appointments {"type_id","provider_id","start"[,"patient_id"]} */
int sched_h_book(struct atr_ctx *ctx)
{
	json_t *body = sched_api->req_json(ctx, book_fields);
	unsigned role = sched_api->user_role(ctx);
	long long uid = sched_api->user_id(ctx), id = 0;
	struct sched_type t;
	struct sched_new n;
	struct sched_err e = {0, NULL, NULL};
	json_t *pid;
	time_t start;
	int rc;

	if (!body)
		return ATR_OK;
	memset(&n, 0, sizeof(n));
	pid = json_object_get(body, "patient_id");
	n.patient_id = pid ? (long long)json_integer_value(pid) : 0;
	if (role == ATR_ROLE_PATIENT) {
		if (n.patient_id && n.patient_id != uid)
			return sched_api->respond_error(
			    ctx, 403, "forbidden",
			    "patients can only book for themselves");
		n.patient_id = uid;
	} else if (!n.patient_id) {
		return sched_api->respond_error(
		    ctx, 400, "bad_request",
		    "patient_id is required when booking for a patient");
	}
	if (sched_api->check_patient(ctx, n.patient_id) != ATR_OK)
		return ATR_OK;
	if (sched_parse_time(ctx, sched_str(body, "start"), "start", &start) !=
	    ATR_OK)
		return ATR_OK;
	rc = sched_load_type(ctx, sched_int(body, "type_id"), &t);
	if (rc == ATR_ENOTFOUND || (rc == ATR_OK && !t.active))
		return sched_api->respond_error(ctx, 422, "unknown_type",
						"no such appointment type");
	if (rc != ATR_OK)
		return sched_db_fail(ctx, rc, "the appointment");
	if (role == ATR_ROLE_PATIENT && !t.self_bookable)
		return sched_api->respond_error(
		    ctx, 403, "not_self_bookable",
		    "this type of visit cannot be booked online; please call "
		    "the practice");
	n.provider_id = sched_int(body, "provider_id");
	n.booked_by = uid;
	n.type = &t;
	n.start = start;
	n.self_booked = role == ATR_ROLE_PATIENT;
	n.status = n.self_booked && t.needs_approval ? "pending" : "booked";
	n.leads = sched_cfg.leads_text;
	if (sched_check_slot(ctx, n.provider_id, &t, start, 0, &n.location,
			     &e) != ATR_OK)
		return sched_respond_err(ctx, &e);
	if (sched_before_book(ctx, "book", &n, 0, &n.status, &n.leads, &e) !=
	    ATR_OK)
		return sched_respond_err(ctx, &e);
	rc = sched_api->tx_begin(ctx);
	if (rc != ATR_OK)
		return sched_db_fail(ctx, rc, "the appointment");
	/* again inside the transaction: a block or template may have
	 * changed while the rules ran */
	if (sched_check_slot(ctx, n.provider_id, &t, start, 0, &n.location,
			     &e) != ATR_OK) {
		sched_api->tx_rollback(ctx);
		return sched_respond_err(ctx, &e);
	}
	rc = sched_insert_appt(ctx, &n, &id);
	if (rc == ATR_OK && !strcmp(n.status, "booked"))
		rc = sched_queue_reminders(ctx, id);
	if (rc == ATR_OK) {
		sched_notice(ctx, id,
			     strcmp(n.status, "booked")
				 ? "requested"
				 : "booked");
		rc = sched_api->tx_commit(ctx);
	}
	if (rc != ATR_OK) {
		sched_api->tx_rollback(ctx);
		if (rc == ATR_ECONFLICT)
			return sched_api->respond_error(
			    ctx, 409, "slot_taken",
			    "that time is already taken; please choose "
			    "another");
		return sched_db_fail(ctx, rc, "the appointment");
	}
	sched_after_book(ctx, "book", id);
	return respond_appt(ctx, 201, id);
}

/* GET /appointments/:id */
int sched_h_get(struct atr_ctx *ctx)
{
	struct sched_appt a;
	if (load_param_appt(ctx, &a) != ATR_OK)
		return ATR_OK;
	return respond_appt(ctx, 200, a.id);
}

static const char *const fhir_statuses[] = {
    "proposed",  "pending",  "booked",           "arrived",
    "fulfilled", "cancelled", "noshow", "entered-in-error",
    "checked-in", "waitlist", NULL};

/* GET /appointments?scope=upcoming|past|all&status=&from=&to=&provider=
 *  &patient=&limit= : the caller's own (patients) or any (care team). */
int sched_h_list(struct atr_ctx *ctx)
{
	const char *scope = sched_api->req_query(ctx, "scope");
	const char *status = sched_api->req_query(ctx, "status");
	const char *from = sched_api->req_query(ctx, "from");
	const char *to = sched_api->req_query(ctx, "to");
	const char *ls = sched_api->req_query(ctx, "limit");
	long long patient, provider, limit = 100;
	time_t now = sched_api->now(ctx);
	struct sched_date d;
	const char *order, *when;
	json_t *rows, *out, *row;
	size_t i;

	if (sched_query_id(ctx, "patient", &patient) != ATR_OK ||
	    sched_query_id(ctx, "provider", &provider) != ATR_OK)
		return ATR_OK;
	if (sched_api->user_role(ctx) == ATR_ROLE_PATIENT) {
		if (patient && patient != sched_api->user_id(ctx)) {
			sched_api->check_patient(ctx, patient);
			return ATR_OK;
		}
		patient = sched_api->user_id(ctx);
	}
	if (patient && sched_api->check_patient(ctx, patient) != ATR_OK)
		return ATR_OK;
	if (!scope || !*scope || !strcmp(scope, "all")) {
		when = "1 = 1 OR ? = 0";
		order = "a.start_utc DESC";
	} else if (!strcmp(scope, "upcoming")) {
		when = "a.end_utc > ?";
		order = "a.start_utc ASC";
	} else if (!strcmp(scope, "past")) {
		when = "a.end_utc <= ?";
		order = "a.start_utc DESC";
	} else {
		return sched_api->respond_error(
		    ctx, 400, "bad_request",
		    "scope must be upcoming, past or all");
	}
	if (status && *status && !in_list(status, fhir_statuses))
		return sched_api->respond_error(ctx, 400, "bad_request",
						"status is not an appointment "
						"status");
	if ((from && *from && sched_parse_date(from, &d)) ||
	    (to && *to && sched_parse_date(to, &d)))
		return sched_api->respond_error(ctx, 400, "bad_request",
						"from and to must be dates "
						"like 2026-12-01");
	if (ls && *ls) {
		limit = atoll(ls);
		if (limit < 1 || limit > 500)
			return sched_api->respond_error(
			    ctx, 400, "bad_request",
			    "limit must be between 1 and 500");
	}
	rows = sched_query(
	    ctx,
	    sched_api->sprintf(
		ctx,
		SCHED_APPT_SELECT
		"WHERE (%s) AND (? = 0 OR a.patient_id = ?) AND (? = 0 OR "
		"a.provider_id = ?) AND (? = '' OR a.status = ?) AND (? = '' "
		"OR a.local_date >= ?) AND (? = '' OR a.local_date <= ?) "
		"ORDER BY %s LIMIT ?",
		when, order),
	    json_pack("[I,I,I,I,I,s,s,s,s,s,s,I]", (json_int_t)now,
		      (json_int_t)patient, (json_int_t)patient,
		      (json_int_t)provider, (json_int_t)provider,
		      status ? status : "", status ? status : "",
		      from ? from : "", from ? from : "", to ? to : "",
		      to ? to : "", (json_int_t)limit));
	if (!rows)
		return sched_db_fail(ctx, ATR_ERR, "the appointments");
	out = json_array();
	json_array_foreach(rows, i, row)
	    json_array_append_new(out, sched_appt_view(ctx, row));
	json_decref(rows);
	return sched_api->respond_json(ctx, 200,
				       json_pack("{s:o}", "appointments", out));
}

static const struct atr_field reason_fields[] = {
    {"reason", ATR_F_STRING, 0, 500},
    {NULL, 0, 0, 0},
};

/* Body {"reason"?}; an empty body is fine. */
static int optional_reason(struct atr_ctx *ctx, const char **reason)
{
	const char *len = sched_api->req_header(ctx, "Content-Length");
	json_t *body;
	*reason = NULL;
	if (!len || !strcmp(len, "0"))
		return ATR_OK;
	body = sched_api->req_json(ctx, reason_fields);
	if (!body)
		return ATR_ERESPONDED;
	*reason = sched_str(body, "reason");
	return ATR_OK;
}

/* Cancel (declined = 0) or decline (1) the appointment named in the path. */
static int cancel_route(struct atr_ctx *ctx, int declined)
{
	struct sched_appt a;
	struct sched_actor who = sched_actor_of(ctx);
	struct sched_err e = {0, NULL, NULL};
	const char *reason;

	if (load_param_appt(ctx, &a) != ATR_OK ||
	    optional_reason(ctx, &reason) != ATR_OK)
		return ATR_OK;
	if (sched_cancel_appt(ctx, &a, &who, reason, declined, &e) != ATR_OK)
		return sched_respond_err(ctx, &e);
	return respond_appt(ctx, 200, a.id);
}

/* POST /appointments/:id/cancel {"reason"?} */
int sched_h_cancel(struct atr_ctx *ctx)
{
	return cancel_route(ctx, 0);
}

/* POST /appointments/:id/decline {"reason"?} (care team) */
int sched_h_decline(struct atr_ctx *ctx)
{
	return cancel_route(ctx, 1);
}

static const struct atr_field reschedule_fields[] = {
    {"start", ATR_F_STRING, 1, 64},
    {"provider_id", ATR_F_INT, 0, 0},
    {NULL, 0, 0, 0},
};

/* POST /appointments/:id/reschedule {"start"[,"provider_id"]}: the new
 * slot is taken and the old one freed in one transaction, or nothing
 * changes. */
int sched_h_reschedule(struct atr_ctx *ctx)
{
	unsigned role = sched_api->user_role(ctx);
	time_t now = sched_api->now(ctx), start;
	struct sched_err e = {0, NULL, NULL};
	struct sched_appt a;
	struct sched_type t;
	struct sched_new n;
	json_t *body;
	int rc;

	if (load_param_appt(ctx, &a) != ATR_OK)
		return ATR_OK;
	body = sched_api->req_json(ctx, reschedule_fields);
	if (!body)
		return ATR_OK;
	if (sched_parse_time(ctx, sched_str(body, "start"), "start", &start) !=
	    ATR_OK)
		return ATR_OK;
	if (strcmp(a.status, "pending") && strcmp(a.status, "booked"))
		return sched_api->respond_error(
		    ctx, 409, "not_reschedulable",
		    "only pending or booked appointments can be moved");
	if (role == ATR_ROLE_PATIENT &&
	    !sched_cutoff_ok(now, a.start, sched_cfg.cutoff_hours))
		return sched_api->respond_error(
		    ctx, 422, "cutoff",
		    "appointments can be changed online up to %ld hours "
		    "before the visit; please call the practice",
		    sched_cfg.cutoff_hours);
	rc = sched_load_type(ctx, a.type_id, &t);
	if (rc != ATR_OK)
		return sched_db_fail(ctx, rc, "the appointment");
	if (role == ATR_ROLE_PATIENT && !t.self_bookable)
		return sched_api->respond_error(
		    ctx, 403, "not_self_bookable",
		    "this type of visit cannot be moved online; please call "
		    "the practice");
	memset(&n, 0, sizeof(n));
	n.patient_id = a.patient_id;
	n.provider_id = json_object_get(body, "provider_id")
			    ? sched_int(body, "provider_id")
			    : a.provider_id;
	if (n.provider_id == a.provider_id && start == a.start)
		return sched_api->respond_error(
		    ctx, 422, "same_time", "the appointment is already then");
	n.booked_by = sched_api->user_id(ctx);
	n.type = &t;
	n.start = start;
	n.self_booked = a.self_booked;
	if (role == ATR_ROLE_PATIENT)
		n.status = t.needs_approval ? "pending" : "booked";
	else
		n.status = a.status;
	n.leads = sched_cfg.leads_text;
	if (sched_check_slot(ctx, n.provider_id, &t, start, a.id, &n.location,
			     &e) != ATR_OK)
		return sched_respond_err(ctx, &e);
	if (sched_before_book(ctx, "reschedule", &n, a.id, &n.status,
			      &n.leads, &e) != ATR_OK)
		return sched_respond_err(ctx, &e);
	rc = sched_api->tx_begin(ctx);
	if (rc != ATR_OK)
		return sched_db_fail(ctx, rc, "the appointment");
	if (sched_check_slot(ctx, n.provider_id, &t, start, a.id, &n.location,
			     &e) != ATR_OK) {
		sched_api->tx_rollback(ctx);
		return sched_respond_err(ctx, &e);
	}
	rc = sched_move_appt(ctx, &a, n.provider_id, start,
			     start + t.duration_min * 60, n.location, n.status,
			     n.leads);
	if (rc == ATR_OK)
		rc = sched_cancel_reminders(ctx, a.id);
	if (rc == ATR_OK && !strcmp(n.status, "booked"))
		rc = sched_queue_reminders(ctx, a.id);
	if (rc == ATR_OK) {
		sched_notice(ctx, a.id, "rescheduled");
		rc = sched_api->tx_commit(ctx);
	}
	if (rc != ATR_OK) {
		sched_api->tx_rollback(ctx);
		if (rc == ATR_ECONFLICT)
			return sched_api->respond_error(
			    ctx, 409, "slot_taken",
			    "that time is already taken; please choose "
			    "another");
		return sched_db_fail(ctx, rc, "the appointment");
	}
	sched_after_book(ctx, "reschedule", a.id);
	if (a.start > now)
		sched_offer_freed(ctx, a.provider_id, a.start);
	return respond_appt(ctx, 200, a.id);
}

/* POST /appointments/:id/approve (care team): pending -> booked. */
int sched_h_approve(struct atr_ctx *ctx)
{
	struct sched_appt a;
	long long changed = 0;
	int rc;

	if (load_param_appt(ctx, &a) != ATR_OK)
		return ATR_OK;
	if (strcmp(a.status, "pending"))
		return sched_api->respond_error(
		    ctx, 409, "not_pending", "only pending requests can be "
					     "approved");
	if (a.start <= sched_api->now(ctx))
		return sched_api->respond_error(ctx, 422, "in_past",
						"the requested time has "
						"passed");
	rc = sched_api->tx_begin(ctx);
	if (rc == ATR_OK)
		rc = sched_exec(ctx,
				"UPDATE scheduling_appointments SET status = "
				"'booked', updated_at = ? WHERE id = ? AND "
				"status = 'pending'",
				json_pack("[I,I]",
					  (json_int_t)sched_api->now(ctx),
					  (json_int_t)a.id),
				&changed, NULL);
	if (rc == ATR_OK && !changed) {
		sched_api->tx_rollback(ctx);
		return sched_api->respond_error(ctx, 409, "changed",
						"the appointment has just "
						"changed; reload and try "
						"again");
	}
	if (rc == ATR_OK)
		rc = sched_queue_reminders(ctx, a.id);
	if (rc == ATR_OK) {
		sched_notice(ctx, a.id, "approved");
		rc = sched_api->tx_commit(ctx);
	}
	if (rc != ATR_OK) {
		sched_api->tx_rollback(ctx);
		return sched_db_fail(ctx, rc, "the appointment");
	}
	sched_after_book(ctx, "approve", a.id);
	return respond_appt(ctx, 200, a.id);
}

static const struct atr_field status_fields[] = {
    {"status", ATR_F_STRING, 1, 32},
    {NULL, 0, 0, 0},
};

/* Which statuses a visit may move to from `from`, and when. NULL when
 * allowed, else the reason. */
static const char *transition(const char *from, const char *to, time_t now,
			      time_t start)
{
	if (!strcmp(to, "entered-in-error"))
		return strcmp(from, to) ? NULL
					: "the appointment is already marked "
					  "entered in error";
	if (!strcmp(to, "arrived") || !strcmp(to, "checked-in")) {
		if (strcmp(from, "booked") &&
		    !(!strcmp(to, "checked-in") && !strcmp(from, "arrived")))
			return "only a booked visit can be marked arrived or "
			       "checked in";
		if (start - now > 86400)
			return "a visit can be marked arrived or checked in "
			       "on its day only";
		return NULL;
	}
	if (!strcmp(to, "fulfilled") || !strcmp(to, "noshow")) {
		if (strcmp(from, "booked") &&
		    (!strcmp(to, "noshow") ||
		     (strcmp(from, "arrived") && strcmp(from, "checked-in"))))
			return !strcmp(to, "noshow")
				   ? "only a booked visit can be marked no-show"
				   : "only a booked, arrived or checked-in "
				     "visit can be marked fulfilled";
		if (now < start)
			return "the visit has not started yet";
		return NULL;
	}
	return "";
}

/* POST /appointments/:id/status {"status"} (care team) */
int sched_h_status(struct atr_ctx *ctx)
{
	struct sched_appt a;
	time_t now = sched_api->now(ctx);
	const char *to, *why;
	long long changed = 0;
	json_t *body;
	int rc;

	if (load_param_appt(ctx, &a) != ATR_OK)
		return ATR_OK;
	body = sched_api->req_json(ctx, status_fields);
	if (!body)
		return ATR_OK;
	to = sched_str(body, "status");
	why = transition(a.status, to, now, a.start);
	if (why && !*why)
		return sched_api->respond_error(
		    ctx, 400, "bad_request",
		    "status must be arrived, checked-in, fulfilled, noshow or "
		    "entered-in-error");
	if (why)
		return sched_api->respond_error(ctx, 409, "bad_transition",
						"%s", why);
	rc = sched_api->tx_begin(ctx);
	if (rc == ATR_OK)
		rc = sched_exec(ctx,
				"UPDATE scheduling_appointments SET status = "
				"?, updated_at = ? WHERE id = ? AND status = ?",
				json_pack("[s,I,I,s]", to, (json_int_t)now,
					  (json_int_t)a.id, a.status),
				&changed, NULL);
	if (rc == ATR_OK && !changed) {
		sched_api->tx_rollback(ctx);
		return sched_api->respond_error(ctx, 409, "changed",
						"the appointment has just "
						"changed; reload and try "
						"again");
	}
	if (rc == ATR_OK && !is_active(to)) {
		rc = unclaim(ctx, a.id);
		if (rc == ATR_OK)
			rc = sched_cancel_reminders(ctx, a.id);
	}
	if (rc == ATR_OK)
		rc = sched_api->tx_commit(ctx);
	if (rc != ATR_OK) {
		sched_api->tx_rollback(ctx);
		return sched_db_fail(ctx, rc, "the appointment");
	}
	if (!strcmp(to, "noshow")) {
		json_t *ev = appt_payload(ctx, &a);
		if (ev) {
			json_object_set_new(ev, "status",
					    json_string("noshow"));
			json_object_set_new(
			    ev, "noshow_count",
			    json_integer(count_status(ctx, a.patient_id,
						      "noshow")));
			sched_api->emit(ctx, "appointment.noshow", ev, NULL);
			json_decref(ev);
		}
	}
	if (!strcmp(to, "entered-in-error") && is_active(a.status) &&
	    a.start > now)
		sched_offer_freed(ctx, a.provider_id, a.start);
	return respond_appt(ctx, 200, a.id);
}
