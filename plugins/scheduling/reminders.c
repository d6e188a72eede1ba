/*
 * reminders.c - reminder messages and the one-click links in them.
 *
 * When an appointment is booked, one outbox notification per lead time
 * ("72h,24h,2h" by default, amendable by a workflow rule) is queued with
 * not_before = start - lead; leads already in the past are skipped. Each
 * carries its own single-use token (only its SHA-256 is stored) that
 * confirms or cancels the visit through the public /reminders/:token
 * routes. Cancelling or moving the appointment cancels the undelivered
 * reminders and revokes their tokens. Quiet hours and channels are the
 * outbox's business, not this file's.
 */
#include "sched.h"

#include <string.h>

static const char *lead_text(struct atr_ctx *ctx, long s)
{
	if (s % 86400 == 0)
		return sched_api->sprintf(ctx, "%ldd", s / 86400);
	if (s % 3600 == 0)
		return sched_api->sprintf(ctx, "%ldh", s / 3600);
	return sched_api->sprintf(ctx, "%ldm", s / 60);
}

static const char *ref_of(struct atr_ctx *ctx, long long id)
{
	return sched_api->sprintf(ctx, "appointment:%lld", id);
}

/* Link into the portal page that shows a reminder's choices: a path the
 * outbox makes absolute with server.base_url. */
static const char *page_link(struct atr_ctx *ctx, const char *page,
			     const char *token)
{
	return sched_api->sprintf(ctx, "/#/p/scheduling/%s?token=%s", page,
				  token);
}

/* What every message about an appointment says (new reference). */
static json_t *appt_data(struct atr_ctx *ctx, const struct sched_appt *a)
{
	return json_pack("{s:I,s:o,s:o,s:s,s:s,s:s,s:s}", "appointment_id",
			 (json_int_t)a->id, "start",
			 sched_time_json(ctx, a->start), "end",
			 sched_time_json(ctx, a->end), "provider_name",
			 a->provider_name, "type_name", a->type_name,
			 "location", a->location, "status", a->status);
}

int sched_queue_reminders(struct atr_ctx *ctx, long long appointment_id)
{
	struct sched_appt a;
	long leads[SCHED_MAX_LEADS];
	time_t now = sched_api->now(ctx);
	int n, rc = sched_load_appt(ctx, appointment_id, &a);

	if (rc != ATR_OK)
		return rc;
	n = sched_parse_leads(a.leads, leads);
	if (n <= 0) {
		memcpy(leads, sched_cfg.leads, sizeof(leads));
		n = sched_cfg.nleads;
	}
	for (int i = 0; i < n; i++) {
		time_t at = a.start - leads[i];
		const char *token, *hash;
		long long token_id = 0, oid;
		json_t *data;

		if (at <= now)
			continue;
		token = sched_api->token(ctx, 32);
		hash = sched_api->hash_token(ctx, token);
		if (!token || !hash)
			return ATR_ENOMEM;
		rc = sched_exec(ctx,
				"INSERT INTO scheduling_reminder_tokens "
				"(appointment_id, token_hash, lead_seconds, "
				"expires_at, created_at) VALUES (?, ?, ?, ?, "
				"?)",
				json_pack("[I,s,I,I,I]", (json_int_t)a.id, hash,
					  (json_int_t)leads[i],
					  (json_int_t)a.start, (json_int_t)now),
				NULL, &token_id);
		if (rc != ATR_OK)
			return rc;
		data = appt_data(ctx, &a);
		if (!data)
			return ATR_ENOMEM;
		json_object_set_new(data, "lead",
				    json_string(lead_text(ctx, leads[i])));
		json_object_set_new(data, "token", json_string(token));
		json_object_set_new(
		    data, "confirm_path",
		    json_string(sched_api->sprintf(
			ctx, "/api/scheduling/reminders/%s/confirm", token)));
		json_object_set_new(
		    data, "cancel_path",
		    json_string(sched_api->sprintf(
			ctx, "/api/scheduling/reminders/%s/cancel", token)));
		json_object_set_new(data, "link",
				    json_string(page_link(ctx, "reminder",
							  token)));
		json_object_set_new(
		    data, "title",
		    json_string(sched_api->sprintf(
			ctx, "Reminder: %s on %s", a.type_name,
			sched_local_text(ctx, a.start))));
		json_object_set_new(
		    data, "body",
		    json_string(sched_api->sprintf(
			ctx,
			"%s with %s on %s at %s. Please confirm you will "
			"come, or cancel up to %ld hours before.",
			a.type_name, a.provider_name,
			sched_local_text(ctx, a.start), a.location,
			sched_cfg.cutoff_hours)));
		oid = sched_api->notify(ctx, a.patient_id,
					"appointment_reminder",
					ref_of(ctx, a.id), data, at);
		json_decref(data);
		if (oid <= 0)
			return oid < 0 ? (int)oid : ATR_ERR;
		rc = sched_exec(ctx,
				"UPDATE scheduling_reminder_tokens SET "
				"outbox_id = ? WHERE id = ?",
				json_pack("[I,I]", (json_int_t)oid,
					  (json_int_t)token_id),
				NULL, NULL);
		if (rc != ATR_OK)
			return rc;
	}
	return ATR_OK;
}

int sched_cancel_reminders(struct atr_ctx *ctx, long long appointment_id)
{
	int rc = sched_api->notify_cancel(ctx, ref_of(ctx, appointment_id),
					  "appointment_reminder");
	if (rc < 0)
		return rc;
	return sched_exec(ctx,
			  "UPDATE scheduling_reminder_tokens SET revoked = 1 "
			  "WHERE appointment_id = ? AND used_at IS NULL AND "
			  "revoked = 0",
			  json_pack("[I]", (json_int_t)appointment_id), NULL,
			  NULL);
}

const char *sched_local_text(struct atr_ctx *ctx, time_t t)
{
	struct sched_clock c = sched_clock_of(ctx);
	char stamp[17];
	sched_local_stamp(&c, t, stamp);
	stamp[10] = ' ';
	return sched_api->sprintf(ctx, "%s", stamp);
}

void sched_notice(struct atr_ctx *ctx, long long appointment_id,
		  const char *what)
{
	struct sched_appt a;
	json_t *data;
	if (sched_load_appt(ctx, appointment_id, &a) != ATR_OK)
		return;
	data = appt_data(ctx, &a);
	if (!data)
		return;
	json_object_set_new(data, "event", json_string(what));
	json_object_set_new(
	    data, "title",
	    json_string(sched_api->sprintf(ctx, "Appointment %s", what)));
	json_object_set_new(
	    data, "body",
	    json_string(sched_api->sprintf(
		ctx, "%s with %s on %s (%s): %s.", a.type_name,
		a.provider_name, sched_local_text(ctx, a.start), a.location,
		what)));
	json_object_set_new(data, "link",
			    json_string("/#/p/scheduling/appointments"));
	if (sched_api->notify(ctx, a.patient_id, "appointment_confirmation",
			      ref_of(ctx, appointment_id), data, 0) <= 0)
		sched_api->log(ctx, ATR_LOG_WARN,
			       "appointment %lld: '%s' notice not queued",
			       appointment_id, what);
	json_decref(data);
}

/* ---- the public link routes ------------------------------------------- */

/* The token row of :token, checked usable when need_unused; writes the
 * error (recording it in tk) otherwise. */
static json_t *find_token(struct atr_ctx *ctx, int need_unused,
			  struct sched_tok *tk)
{
	const char *token = sched_api->req_param(ctx, "token");
	time_t now = sched_api->now(ctx);
	json_t *row;
	int st;

	if (!token || strlen(token) < 20 || strlen(token) > 100) {
		sched_tok_fail(ctx, tk, 404, "not_found",
			       "this link is not valid");
		return NULL;
	}
	row = sched_one(ctx,
			"SELECT r.id, r.appointment_id, r.used_at, "
			"r.used_action, r.revoked, r.expires_at, "
			"a.patient_id FROM scheduling_reminder_tokens r JOIN "
			"scheduling_appointments a ON a.id = r.appointment_id "
			"WHERE r.token_hash = ?",
			json_pack("[s]", sched_api->hash_token(ctx, token)),
			&st);
	if (!row) {
		sched_tok_fail(ctx, tk, 404, "not_found",
			       "this link is not valid");
		return NULL;
	}
	tk->patient_id = sched_int(row, "patient_id");
	tk->object = sched_api->sprintf(ctx, "appointment:%lld",
					sched_int(row, "appointment_id"));
	if (!need_unused)
		return row;
	if (json_is_integer(json_object_get(row, "used_at")))
		sched_tok_fail(ctx, tk, 410, "link_used",
			       "this link has already been used");
	else if (sched_int(row, "revoked") ||
		 sched_int(row, "expires_at") <= now)
		sched_tok_fail(ctx, tk, 410, "link_expired",
			       "this link has expired");
	else
		return row;
	json_decref(row);
	return NULL;
}

/* What a link holder may see: no patient name, no ids beyond the
 * appointment's. */
static json_t *link_view(struct atr_ctx *ctx, const struct sched_appt *a,
			 int confirmed)
{
	return json_pack("{s:I,s:s,s:o,s:o,s:s,s:s,s:s,s:b}", "id",
			 (json_int_t)a->id, "status", a->status, "start",
			 sched_time_json(ctx, a->start), "end",
			 sched_time_json(ctx, a->end), "provider_name",
			 a->provider_name, "type_name", a->type_name,
			 "location", a->location, "confirmed", confirmed);
}

static int is_confirmed(struct atr_ctx *ctx, long long id)
{
	int st, yes = 0;
	json_t *row = sched_one(ctx,
				"SELECT confirmed_at FROM "
				"scheduling_appointments WHERE id = ?",
				json_pack("[I]", (json_int_t)id), &st);
	yes = row && json_is_integer(json_object_get(row, "confirmed_at"));
	json_decref(row);
	return yes;
}

static void reminder_get(struct atr_ctx *ctx, struct sched_tok *tk)
{
	json_t *row = find_token(ctx, 0, tk);
	struct sched_appt a;
	int usable;

	if (!row)
		return;
	usable = !json_is_integer(json_object_get(row, "used_at")) &&
		 !sched_int(row, "revoked") &&
		 sched_int(row, "expires_at") > sched_api->now(ctx);
	if (sched_load_appt(ctx, sched_int(row, "appointment_id"), &a) !=
	    ATR_OK) {
		json_decref(row);
		tk->status = 500;
		sched_db_fail(ctx, ATR_ERR, "the appointment");
		return;
	}
	json_decref(row);
	sched_api->respond_json(
	    ctx, 200,
	    json_pack("{s:o,s:b,s:I}", "appointment",
		      link_view(ctx, &a, is_confirmed(ctx, a.id)), "usable",
		      usable && !strcmp(a.status, "booked"), "cutoff_hours",
		      (json_int_t)sched_cfg.cutoff_hours));
}

/* GET /reminders/:token (public): what the link is about. */
int sched_h_reminder_get(struct atr_ctx *ctx)
{
	struct sched_tok tk = {200, 0, NULL};
	reminder_get(ctx, &tk);
	sched_tok_audit(ctx, &tk, "GET /api/scheduling/reminders/:token");
	return ATR_OK;
}

static void reminder_confirm(struct atr_ctx *ctx, struct sched_tok *tk)
{
	json_t *row = find_token(ctx, 1, tk);
	time_t now = sched_api->now(ctx);
	struct sched_appt a;
	long long changed = 0;
	int rc;

	if (!row)
		return;
	rc = sched_load_appt(ctx, sched_int(row, "appointment_id"), &a);
	if (rc == ATR_OK && strcmp(a.status, "booked")) {
		json_decref(row);
		sched_tok_fail(ctx, tk, 409, "not_booked",
			       "this appointment is no longer booked");
		return;
	}
	if (rc == ATR_OK)
		rc = sched_api->tx_begin(ctx);
	if (rc == ATR_OK)
		rc = sched_exec(ctx,
				"UPDATE scheduling_reminder_tokens SET used_at "
				"= ?, used_action = 'confirm' WHERE id = ? AND "
				"used_at IS NULL AND revoked = 0",
				json_pack("[I,I]", (json_int_t)now,
					  (json_int_t)sched_int(row, "id")),
				&changed, NULL);
	json_decref(row);
	if (rc == ATR_OK && !changed) {
		sched_api->tx_rollback(ctx);
		sched_tok_fail(ctx, tk, 410, "link_used",
			       "this link has already been used");
		return;
	}
	if (rc == ATR_OK)
		rc = sched_exec(ctx,
				"UPDATE scheduling_appointments SET "
				"confirmed_at = ?, updated_at = ? WHERE id = ? "
				"AND status = 'booked'",
				json_pack("[I,I,I]", (json_int_t)now,
					  (json_int_t)now, (json_int_t)a.id),
				NULL, NULL);
	if (rc == ATR_OK)
		rc = sched_api->tx_commit(ctx);
	if (rc != ATR_OK) {
		sched_api->tx_rollback(ctx);
		tk->status = rc == ATR_EBUSY ? 503 : 500;
		sched_db_fail(ctx, rc, "the confirmation");
		return;
	}
	sched_api->respond_json(
	    ctx, 200, json_pack("{s:o}", "appointment", link_view(ctx, &a, 1)));
}

/* POST /reminders/:token/confirm (public) */
int sched_h_reminder_confirm(struct atr_ctx *ctx)
{
	struct sched_tok tk = {200, 0, NULL};
	reminder_confirm(ctx, &tk);
	sched_tok_audit(ctx, &tk, "POST /api/scheduling/reminders/:token/confirm");
	return ATR_OK;
}

static void reminder_cancel(struct atr_ctx *ctx, struct sched_tok *tk)
{
	json_t *row = find_token(ctx, 1, tk);
	struct sched_actor who = {0, 0, 1};
	struct sched_err e = {0, NULL, NULL};
	struct sched_appt a;
	long long token_id;
	int rc;

	if (!row)
		return;
	token_id = sched_int(row, "id");
	rc = sched_load_appt(ctx, sched_int(row, "appointment_id"), &a);
	json_decref(row);
	if (rc != ATR_OK) {
		tk->status = 500;
		sched_db_fail(ctx, rc, "the appointment");
		return;
	}
	if (sched_cancel_appt(ctx, &a, &who, "cancelled from a reminder", 0,
			      &e) != ATR_OK) {
		tk->status = e.status;
		sched_respond_err(ctx, &e);
		return;
	}
	sched_exec(ctx,
		   "UPDATE scheduling_reminder_tokens SET used_at = ?, "
		   "used_action = 'cancel' WHERE id = ?",
		   json_pack("[I,I]", (json_int_t)sched_api->now(ctx),
			     (json_int_t)token_id),
		   NULL, NULL);
	a.status = "cancelled";
	sched_api->respond_json(
	    ctx, 200, json_pack("{s:o}", "appointment", link_view(ctx, &a, 0)));
}

/* POST /reminders/:token/cancel (public): the patient's cutoff applies. */
int sched_h_reminder_cancel(struct atr_ctx *ctx)
{
	struct sched_tok tk = {200, 0, NULL};
	reminder_cancel(ctx, &tk);
	sched_tok_audit(ctx, &tk, "POST /api/scheduling/reminders/:token/cancel");
	return ATR_OK;
}
