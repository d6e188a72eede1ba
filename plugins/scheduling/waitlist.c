/*
 * waitlist.c - patients waiting for an (earlier) slot, and the offers a
 * freed slot sends them.
 *
 * When a booked slot frees up (cancel, decline, reschedule, entered in
 * error) a scheduling_freed row records it and the first offer_batch
 * matching waitlist entries, in waitlist order, get an offer through the
 * outbox ("waitlist_offer", with a single-use token). Offers expire after
 * offer_ttl_minutes; the timed job then expires them and offers the slot to
 * the next entries. The first accept books the slot in one transaction: the
 * offer row moves from 'sent' to 'accepted' only once, and the slot claims
 * make a booking of a taken slot fail; every other offer for that slot is
 * marked 'lost' and its patient told. The slot stays bookable by anyone
 * while offers are out: the first to take it wins.
 */
#include "sched.h"

#include <string.h>

#define MAX_CANDIDATES 200

/* ---- offering ----------------------------------------------------------- */

static const char *date_of(struct atr_ctx *ctx, time_t t)
{
	struct sched_clock c = sched_clock_of(ctx);
	char *buf = sched_api->alloc(ctx, 11);
	if (buf)
		sched_format_date(sched_local_date(&c, t), buf);
	return buf ? buf : "";
}

/* Does waitlist entry w want, and can it take, the slot at start? */
static int entry_fits(struct atr_ctx *ctx, json_t *w, long long provider_id,
		      time_t start, const struct sched_type *t)
{
	const char *day = date_of(ctx, start);
	long long appt_id = sched_int(w, "appointment_id");
	struct sched_err e;

	if (strcmp(day, sched_str(w, "from_date")) < 0 ||
	    strcmp(day, sched_str(w, "to_date")) > 0)
		return 0;
	if (appt_id) {
		struct sched_appt a;
		if (sched_load_appt(ctx, appt_id, &a) != ATR_OK ||
		    (strcmp(a.status, "pending") &&
		     strcmp(a.status, "booked")) ||
		    a.start <= start)
			return 0;
	}
	return sched_check_slot(ctx, provider_id, t, start, appt_id, NULL,
				&e) == ATR_OK;
}

/* Sends the next batch of offers for freed slot fid; closes it when no
 * entry fits. Caller's transaction. Returns the number sent. */
static int offer_next(struct atr_ctx *ctx, long long fid,
		      long long provider_id, time_t start)
{
	time_t now = sched_api->now(ctx);
	const char *pname = sched_provider_name(ctx, provider_id, NULL);
	json_t *rows, *w;
	size_t i;
	int sent = 0;

	rows = sched_query(
	    ctx,
	    "SELECT w.id, w.patient_id, w.type_id, w.from_date, w.to_date, "
	    "w.appointment_id FROM scheduling_waitlist w WHERE w.status = "
	    "'active' AND (w.provider_id IS NULL OR w.provider_id = ?) AND "
	    "NOT EXISTS (SELECT 1 FROM scheduling_offers o WHERE o.freed_id "
	    "= ? AND o.waitlist_id = w.id) ORDER BY w.id LIMIT ?",
	    json_pack("[I,I,i]", (json_int_t)provider_id, (json_int_t)fid,
		      MAX_CANDIDATES));
	if (!rows || !pname) {
		json_decref(rows);
		return 0;
	}
	json_array_foreach(rows, i, w)
	{
		struct sched_type t;
		const char *token, *hash;
		long long offer_id = 0;
		time_t expires = now + sched_cfg.offer_ttl_s, end;
		json_t *data;

		if (sent >= sched_cfg.offer_batch)
			break;
		if (sched_load_type(ctx, sched_int(w, "type_id"), &t) !=
			ATR_OK ||
		    !entry_fits(ctx, w, provider_id, start, &t))
			continue;
		end = start + t.duration_min * 60;
		token = sched_api->token(ctx, 32);
		hash = sched_api->hash_token(ctx, token);
		if (!token || !hash ||
		    sched_exec(ctx,
			       "INSERT INTO scheduling_offers (freed_id, "
			       "waitlist_id, patient_id, provider_id, type_id, "
			       "start_utc, end_utc, token_hash, expires_at, "
			       "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
			       "?)",
			       json_pack("[I,I,I,I,I,I,I,s,I,I]",
					 (json_int_t)fid,
					 (json_int_t)sched_int(w, "id"),
					 (json_int_t)sched_int(w, "patient_id"),
					 (json_int_t)provider_id,
					 (json_int_t)t.id, (json_int_t)start,
					 (json_int_t)end, hash,
					 (json_int_t)expires, (json_int_t)now),
			       NULL, &offer_id) != ATR_OK)
			continue;
		data = json_pack(
		    "{s:I,s:I,s:o,s:o,s:s,s:s,s:o,s:s,s:s,s:s}", "offer_id",
		    (json_int_t)offer_id, "waitlist_id",
		    (json_int_t)sched_int(w, "id"), "start",
		    sched_time_json(ctx, start), "end",
		    sched_time_json(ctx, end), "provider_name", pname,
		    "type_name", t.name, "expires_at",
		    sched_time_json(ctx, expires), "token", token,
		    "accept_path",
		    sched_api->sprintf(ctx,
				       "/api/scheduling/offers/%s/accept",
				       token),
		    "link",
		    sched_api->sprintf(ctx, "/#/p/scheduling/offer?token=%s",
				       token));
		json_object_set_new(
		    data, "title",
		    json_string(sched_api->sprintf(
			ctx, "A time for %s on %s is free", t.name,
			sched_local_text(ctx, start))));
		json_object_set_new(
		    data, "body",
		    json_string(sched_api->sprintf(
			ctx,
			"%s with %s on %s has become free. It is offered to "
			"a few patients on the waitlist: the first to take it "
			"gets it. The offer is open until %s.",
			t.name, pname, sched_local_text(ctx, start),
			sched_local_text(ctx, expires))));
		if (data)
			sched_api->notify(
			    ctx, sched_int(w, "patient_id"), "waitlist_offer",
			    sched_api->sprintf(ctx, "waitlist:%lld",
					       sched_int(w, "id")),
			    data, 0);
		json_decref(data);
		sent++;
	}
	json_decref(rows);
	if (!sent)
		sched_exec(ctx,
			   "UPDATE scheduling_freed SET status = 'closed' "
			   "WHERE id = ?",
			   json_pack("[I]", (json_int_t)fid), NULL, NULL);
	return sent;
}

void sched_offer_freed(struct atr_ctx *ctx, long long provider_id,
		       time_t start)
{
	long long fid = 0;
	int rc;

	if (start <= sched_api->now(ctx))
		return;
	rc = sched_api->tx_begin(ctx);
	if (rc == ATR_OK)
		rc = sched_exec(ctx,
				"INSERT INTO scheduling_freed (provider_id, "
				"start_utc, created_at) VALUES (?, ?, ?)",
				json_pack("[I,I,I]", (json_int_t)provider_id,
					  (json_int_t)start,
					  (json_int_t)sched_api->now(ctx)),
				NULL, &fid);
	if (rc == ATR_OK) {
		offer_next(ctx, fid, provider_id, start);
		rc = sched_api->tx_commit(ctx);
	}
	if (rc != ATR_OK) {
		sched_api->tx_rollback(ctx);
		sched_api->log(ctx, ATR_LOG_WARN,
			       "freed slot of provider %lld not offered to the "
			       "waitlist",
			       provider_id);
	}
}

void sched_offer_job(struct atr_ctx *ctx)
{
	time_t now = sched_api->now(ctx);
	json_t *open, *f;
	size_t i;

	if (sched_api->tx_begin(ctx) != ATR_OK)
		return;
	sched_exec(ctx,
		   "UPDATE scheduling_offers SET status = 'expired', "
		   "answered_at = ? WHERE status = 'sent' AND expires_at <= ?",
		   json_pack("[I,I]", (json_int_t)now, (json_int_t)now), NULL,
		   NULL);
	sched_exec(ctx,
		   "UPDATE scheduling_freed SET status = 'closed' WHERE status "
		   "= 'open' AND start_utc <= ?",
		   json_pack("[I]", (json_int_t)now), NULL, NULL);
	open = sched_query(
	    ctx,
	    "SELECT f.id, f.provider_id, f.start_utc FROM scheduling_freed f "
	    "WHERE f.status = 'open' AND NOT EXISTS (SELECT 1 FROM "
	    "scheduling_offers o WHERE o.freed_id = f.id AND o.status IN "
	    "('sent', 'accepted')) ORDER BY f.id LIMIT 50",
	    NULL);
	json_array_foreach(open, i, f)
	    offer_next(ctx, sched_int(f, "id"), sched_int(f, "provider_id"),
		       (time_t)sched_int(f, "start_utc"));
	json_decref(open);
	if (sched_api->tx_commit(ctx) != ATR_OK)
		sched_api->tx_rollback(ctx);
}

/* ---- waitlist routes -------------------------------------------------- */

static json_t *entry_view(struct atr_ctx *ctx, long long id)
{
	int st;
	json_t *row = sched_one(
	    ctx,
	    "SELECT w.id, w.patient_id, u.display_name AS patient_name, "
	    "w.type_id, t.name AS type_name, w.provider_id, p.display_name "
	    "AS provider_name, w.from_date, w.to_date, w.appointment_id, "
	    "w.status, w.created_at FROM scheduling_waitlist w JOIN users u "
	    "ON u.id = w.patient_id JOIN scheduling_types t ON t.id = "
	    "w.type_id LEFT JOIN scheduling_providers p ON p.id = "
	    "w.provider_id WHERE w.id = ?",
	    json_pack("[I]", (json_int_t)id), &st);
	json_t *out;
	if (!row)
		return NULL;
	out = json_pack("{s:I,s:I,s:O,s:I,s:O,s:O,s:O,s:O,s:O,s:O,s:O,s:o}",
			"id", (json_int_t)id, "patient_id",
			(json_int_t)sched_int(row, "patient_id"),
			"patient_name", json_object_get(row, "patient_name"),
			"type_id", (json_int_t)sched_int(row, "type_id"),
			"type_name", json_object_get(row, "type_name"),
			"provider_id", json_object_get(row, "provider_id"),
			"provider_name", json_object_get(row, "provider_name"),
			"from", json_object_get(row, "from_date"), "to",
			json_object_get(row, "to_date"), "appointment_id",
			json_object_get(row, "appointment_id"), "status",
			json_object_get(row, "status"), "created_at",
			sched_time_json(ctx,
					(time_t)sched_int(row, "created_at")));
	json_decref(row);
	return out;
}

static const struct atr_field waitlist_fields[] = {
    {"type_id", ATR_F_INT, 1, 0},   {"provider_id", ATR_F_INT, 0, 0},
    {"from", ATR_F_STRING, 0, 10},  {"to", ATR_F_STRING, 0, 10},
    {"appointment_id", ATR_F_INT, 0, 0}, {"patient_id", ATR_F_INT, 0, 0},
    {NULL, 0, 0, 0},
};

/* POST /waitlist {"type_id"[,"provider_id","from","to","appointment_id",
 * "patient_id"]}: wait for a slot (earlier than appointment_id's). */
int sched_h_waitlist_add(struct atr_ctx *ctx)
{
	json_t *body = sched_api->req_json(ctx, waitlist_fields), *dup, *view;
	struct sched_clock c = sched_clock_of(ctx);
	unsigned role = sched_api->user_role(ctx);
	long long uid = sched_api->user_id(ctx), patient, provider, appt,
		  id = 0;
	time_t now = sched_api->now(ctx);
	long today = sched_days(sched_local_date(&c, now)), from, to;
	struct sched_date d;
	struct sched_type t;
	char fbuf[11], tbuf[11];
	int rc, st;

	if (!body)
		return ATR_OK;
	patient = sched_int(body, "patient_id");
	provider = sched_int(body, "provider_id");
	appt = sched_int(body, "appointment_id");
	if (role == ATR_ROLE_PATIENT) {
		if (patient && patient != uid)
			return sched_api->respond_error(
			    ctx, 403, "forbidden",
			    "patients can only join the waitlist for "
			    "themselves");
		patient = uid;
	} else if (patient <= 0) {
		return sched_api->respond_error(ctx, 400, "bad_request",
						"patient_id is required");
	}
	if (sched_api->check_patient(ctx, patient) != ATR_OK)
		return ATR_OK;
	rc = sched_load_type(ctx, sched_int(body, "type_id"), &t);
	if (rc == ATR_ENOTFOUND || (rc == ATR_OK && !t.active))
		return sched_api->respond_error(ctx, 422, "unknown_type",
						"no such appointment type");
	if (rc != ATR_OK)
		return sched_db_fail(ctx, rc, "the waitlist");
	if (role == ATR_ROLE_PATIENT && !t.self_bookable)
		return sched_api->respond_error(
		    ctx, 403, "not_self_bookable",
		    "this type of visit cannot be booked online; please call "
		    "the practice");
	if (provider && !sched_type_offered(ctx, t.id, provider))
		return sched_api->respond_error(ctx, 422, "type_not_offered",
						"this provider does not offer "
						"that type of visit");
	from = today;
	to = today + sched_cfg.max_days;
	if (sched_str(body, "from")) {
		if (sched_parse_date(sched_str(body, "from"), &d))
			goto bad_date;
		from = sched_days(d) > today ? sched_days(d) : today;
	}
	if (sched_str(body, "to")) {
		if (sched_parse_date(sched_str(body, "to"), &d))
			goto bad_date;
		to = sched_days(d);
	}
	if (to < from)
		return sched_api->respond_error(ctx, 422, "bad_dates",
						"to must not be before from, "
						"nor in the past");
	if (appt) {
		struct sched_appt a;
		if (sched_load_appt(ctx, appt, &a) != ATR_OK ||
		    a.patient_id != patient || a.type_id != t.id ||
		    (strcmp(a.status, "pending") && strcmp(a.status, "booked")))
			return sched_api->respond_error(
			    ctx, 422, "bad_appointment",
			    "appointment_id must be one of this patient's "
			    "upcoming visits of that type");
	}
	sched_format_date(sched_from_days(from), fbuf);
	sched_format_date(sched_from_days(to), tbuf);
	rc = sched_api->tx_begin(ctx);
	if (rc != ATR_OK)
		return sched_db_fail(ctx, rc, "the waitlist");
	dup = sched_one(ctx,
			"SELECT id FROM scheduling_waitlist WHERE patient_id = "
			"? AND type_id = ? AND status = 'active' AND "
			"COALESCE(provider_id, 0) = ?",
			json_pack("[I,I,I]", (json_int_t)patient,
				  (json_int_t)t.id, (json_int_t)provider),
			&st);
	if (dup) {
		json_decref(dup);
		sched_api->tx_rollback(ctx);
		return sched_api->respond_error(
		    ctx, 409, "already_waiting",
		    "you are already on the waitlist for this visit");
	}
	rc = sched_exec(
	    ctx,
	    "INSERT INTO scheduling_waitlist (patient_id, type_id, "
	    "provider_id, from_date, to_date, appointment_id, created_by, "
	    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
	    json_pack("[I,I,o,s,s,o,I,I,I]", (json_int_t)patient,
		      (json_int_t)t.id,
		      provider ? json_integer(provider) : json_null(), fbuf,
		      tbuf, appt ? json_integer(appt) : json_null(),
		      (json_int_t)uid, (json_int_t)now, (json_int_t)now),
	    NULL, &id);
	if (rc == ATR_OK)
		rc = sched_api->tx_commit(ctx);
	if (rc != ATR_OK) {
		sched_api->tx_rollback(ctx);
		return sched_db_fail(ctx, rc, "the waitlist");
	}
	view = entry_view(ctx, id);
	if (!view)
		return sched_db_fail(ctx, ATR_ERR, "the waitlist");
	return sched_api->respond_json(ctx, 201,
				       json_pack("{s:o}", "entry", view));
bad_date:
	return sched_api->respond_error(ctx, 400, "bad_request",
					"from and to must be dates like "
					"2026-12-01");
}

/* GET /waitlist?status=active|all&patient=ID */
int sched_h_waitlist_list(struct atr_ctx *ctx)
{
	const char *status = sched_api->req_query(ctx, "status");
	long long patient;
	json_t *rows, *out, *row;
	size_t i;

	if (sched_query_id(ctx, "patient", &patient) != ATR_OK)
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
	if (status && *status && strcmp(status, "active") &&
	    strcmp(status, "all"))
		return sched_api->respond_error(ctx, 400, "bad_request",
						"status must be active or all");
	rows = sched_query(ctx,
			   "SELECT id FROM scheduling_waitlist WHERE (? = 0 OR "
			   "patient_id = ?) AND (? = 'all' OR status = "
			   "'active') ORDER BY id LIMIT 500",
			   json_pack("[I,I,s]", (json_int_t)patient,
				     (json_int_t)patient,
				     status && *status ? status : "active"));
	if (!rows)
		return sched_db_fail(ctx, ATR_ERR, "the waitlist");
	out = json_array();
	json_array_foreach(rows, i, row)
	{
		json_t *v = entry_view(ctx, sched_int(row, "id"));
		if (v)
			json_array_append_new(out, v);
	}
	json_decref(rows);
	return sched_api->respond_json(ctx, 200,
				       json_pack("{s:o}", "entries", out));
}

/* DELETE /waitlist/:id: leave the waitlist (outstanding offers are
 * withdrawn). */
int sched_h_waitlist_del(struct atr_ctx *ctx)
{
	long long id, changed = 0;
	json_t *row, *view;
	int st, rc;

	if (sched_param_id(ctx, "id", &id) != ATR_OK)
		return ATR_OK;
	row = sched_one(ctx,
			"SELECT patient_id, status FROM scheduling_waitlist "
			"WHERE id = ?",
			json_pack("[I]", (json_int_t)id), &st);
	if (!row)
		return sched_api->respond_error(ctx, 404, "not_found",
						"no such record");
	if (sched_api->check_patient(ctx, sched_int(row, "patient_id")) !=
	    ATR_OK) {
		json_decref(row);
		return ATR_OK;
	}
	json_decref(row);
	rc = sched_api->tx_begin(ctx);
	if (rc == ATR_OK)
		rc = sched_exec(ctx,
				"UPDATE scheduling_waitlist SET status = "
				"'cancelled', updated_at = ? WHERE id = ? AND "
				"status = 'active'",
				json_pack("[I,I]",
					  (json_int_t)sched_api->now(ctx),
					  (json_int_t)id),
				&changed, NULL);
	if (rc == ATR_OK && !changed) {
		sched_api->tx_rollback(ctx);
		return sched_api->respond_error(ctx, 409, "not_active",
						"this waitlist entry is "
						"already closed");
	}
	if (rc == ATR_OK)
		rc = sched_exec(ctx,
				"UPDATE scheduling_offers SET status = "
				"'withdrawn', answered_at = ? WHERE "
				"waitlist_id = ? AND status = 'sent'",
				json_pack("[I,I]",
					  (json_int_t)sched_api->now(ctx),
					  (json_int_t)id),
				NULL, NULL);
	if (rc == ATR_OK)
		rc = sched_api->tx_commit(ctx);
	if (rc != ATR_OK) {
		sched_api->tx_rollback(ctx);
		return sched_db_fail(ctx, rc, "the waitlist");
	}
	view = entry_view(ctx, id);
	return sched_api->respond_json(ctx, 200,
				       json_pack("{s:o}", "entry",
						 view ? view : json_null()));
}

/* ---- offers ------------------------------------------------------------ */

/* The offer of :token, visible to the caller; writes 404 otherwise. */
static json_t *param_offer(struct atr_ctx *ctx, struct sched_tok *tk)
{
	const char *token = sched_api->req_param(ctx, "token");
	json_t *row;
	int st;

	if (!token || strlen(token) < 20 || strlen(token) > 100) {
		sched_tok_fail(ctx, tk, 404, "not_found", "no such offer");
		return NULL;
	}
	row = sched_one(
	    ctx,
	    "SELECT o.id, o.freed_id, o.waitlist_id, o.patient_id, "
	    "o.provider_id, o.type_id, o.start_utc, o.end_utc, o.status, "
	    "o.expires_at, o.appointment_id, w.status AS waitlist_status, "
	    "w.appointment_id AS moves_appointment_id, p.display_name AS "
	    "provider_name, t.name AS type_name FROM scheduling_offers o "
	    "JOIN scheduling_waitlist w ON w.id = o.waitlist_id JOIN "
	    "scheduling_providers p ON p.id = o.provider_id JOIN "
	    "scheduling_types t ON t.id = o.type_id WHERE o.token_hash = ?",
	    json_pack("[s]", sched_api->hash_token(ctx, token)), &st);
	if (!row) {
		sched_tok_fail(ctx, tk, 404, "not_found", "no such offer");
		return NULL;
	}
	tk->object = sched_api->sprintf(ctx, "offer:%lld", sched_int(row, "id"));
	if (sched_api->check_patient(ctx, sched_int(row, "patient_id")) !=
	    ATR_OK) {
		tk->status = 404; /* check_patient answered */
		json_decref(row);
		return NULL;
	}
	tk->patient_id = sched_int(row, "patient_id");
	return row;
}

static json_t *offer_view(struct atr_ctx *ctx, json_t *o)
{
	const char *status = sched_str(o, "status");
	if (!strcmp(status, "sent") &&
	    sched_int(o, "expires_at") <= sched_api->now(ctx))
		status = "expired";
	return json_pack("{s:I,s:s,s:o,s:o,s:I,s:O,s:I,s:O,s:o,s:O}", "id",
			 (json_int_t)sched_int(o, "id"), "status", status,
			 "start",
			 sched_time_json(ctx, (time_t)sched_int(o, "start_utc")),
			 "end",
			 sched_time_json(ctx, (time_t)sched_int(o, "end_utc")),
			 "provider_id", (json_int_t)sched_int(o, "provider_id"),
			 "provider_name", json_object_get(o, "provider_name"),
			 "type_id", (json_int_t)sched_int(o, "type_id"),
			 "type_name", json_object_get(o, "type_name"),
			 "expires_at",
			 sched_time_json(ctx,
					 (time_t)sched_int(o, "expires_at")),
			 "appointment_id", json_object_get(o, "appointment_id"));
}

/* GET /offers/:token */
int sched_h_offer_get(struct atr_ctx *ctx)
{
	struct sched_tok tk = {200, 0, NULL};
	json_t *o = param_offer(ctx, &tk), *view;
	if (o) {
		view = offer_view(ctx, o);
		json_decref(o);
		sched_api->respond_json(ctx, 200,
					json_pack("{s:o}", "offer", view));
	}
	sched_tok_audit(ctx, &tk, "GET /api/scheduling/offers/:token");
	return ATR_OK;
}

/* Tells a patient that the slot of their offer went to someone else. */
static void tell_lost(struct atr_ctx *ctx, long long offer_id,
		      long long patient_id, long long waitlist_id)
{
	json_t *data = json_pack(
	    "{s:I,s:s,s:s,s:s}", "offer_id", (json_int_t)offer_id, "title",
	    "The time you were offered was taken", "body",
	    "Another patient took the time first. You stay on the waitlist "
	    "and will hear from us when another time frees up.",
	    "link", "/#/p/scheduling/book");
	if (data)
		sched_api->notify(
		    ctx, patient_id, "waitlist_lost",
		    sched_api->sprintf(ctx, "waitlist:%lld", waitlist_id), data,
		    0);
	json_decref(data);
}

/* The slot of offer o was taken by someone else: mark it lost, tell its
 * patient, answer 409. */
static void lost(struct atr_ctx *ctx, json_t *o, struct sched_tok *tk)
{
	long long changed = 0;
	if (sched_api->tx_begin(ctx) == ATR_OK) {
		sched_exec(ctx,
			   "UPDATE scheduling_offers SET status = 'lost', "
			   "answered_at = ? WHERE id = ? AND status = 'sent'",
			   json_pack("[I,I]", (json_int_t)sched_api->now(ctx),
				     (json_int_t)sched_int(o, "id")),
			   &changed, NULL);
		if (changed)
			tell_lost(ctx, sched_int(o, "id"),
				  sched_int(o, "patient_id"),
				  sched_int(o, "waitlist_id"));
		if (sched_api->tx_commit(ctx) != ATR_OK)
			sched_api->tx_rollback(ctx);
	}
	sched_tok_fail(ctx, tk, 409, "slot_taken", "the slot was taken");
}

/* Inside the accept transaction: every other open offer of the freed slot
 * loses; their patients are told. */
static int others_lose(struct atr_ctx *ctx, long long fid)
{
	json_t *rows = sched_query(ctx,
				   "SELECT id, patient_id, waitlist_id FROM "
				   "scheduling_offers WHERE freed_id = ? AND "
				   "status = 'sent'",
				   json_pack("[I]", (json_int_t)fid)),
	       *r;
	size_t i;
	int rc;
	if (!rows)
		return ATR_ERR;
	rc = sched_exec(ctx,
			"UPDATE scheduling_offers SET status = 'lost', "
			"answered_at = ? WHERE freed_id = ? AND status = "
			"'sent'",
			json_pack("[I,I]", (json_int_t)sched_api->now(ctx),
				  (json_int_t)fid),
			NULL, NULL);
	json_array_foreach(rows, i, r)
	    tell_lost(ctx, sched_int(r, "id"), sched_int(r, "patient_id"),
		      sched_int(r, "waitlist_id"));
	json_decref(rows);
	return rc;
}

/* Refuses an offer that cannot be accepted any more; NULL when it can. */
static const char *offer_closed(struct atr_ctx *ctx, json_t *o, int *status,
				const char **code)
{
	const char *st = sched_str(o, "status");
	*status = 409;
	if (!strcmp(st, "accepted")) {
		*code = "already_accepted";
		return "this offer has already been accepted";
	}
	if (!strcmp(st, "lost")) {
		*code = "slot_taken";
		return "the slot was taken";
	}
	*status = 410;
	*code = "offer_expired";
	if (strcmp(st, "sent") ||
	    sched_int(o, "expires_at") <= sched_api->now(ctx) ||
	    strcmp(sched_str(o, "waitlist_status"), "active"))
		return "this offer has expired";
	return NULL;
}

/* Books (or moves the waiting visit into) the offered slot in one
 * transaction; answers 409 when the slot went to someone else. */
static void offer_accept(struct atr_ctx *ctx, json_t *o, struct sched_tok *tk)
{
	unsigned role = sched_api->user_role(ctx);
	time_t now = sched_api->now(ctx), old_start = 0;
	struct sched_err e = {0, NULL, NULL};
	struct sched_appt a;
	struct sched_type t;
	struct sched_new n;
	const char *why, *code;
	long long id = 0, moves, changed = 0, old_provider = 0;
	json_t *ev, *view;
	int rc, status;

	if ((why = offer_closed(ctx, o, &status, &code))) {
		sched_tok_fail(ctx, tk, status, code, why);
		return;
	}
	if (sched_load_type(ctx, sched_int(o, "type_id"), &t) != ATR_OK) {
		sched_tok_fail(ctx, tk, 500, "internal_error",
			       "the offer cannot be read");
		return;
	}
	moves = sched_int(o, "moves_appointment_id");
	if (moves && (sched_load_appt(ctx, moves, &a) != ATR_OK ||
		      (strcmp(a.status, "pending") &&
		       strcmp(a.status, "booked"))))
		moves = 0; /* that visit is gone: book a new one */
	memset(&n, 0, sizeof(n));
	n.patient_id = sched_int(o, "patient_id");
	n.provider_id = sched_int(o, "provider_id");
	n.booked_by = sched_api->user_id(ctx);
	n.type = &t;
	n.start = (time_t)sched_int(o, "start_utc");
	n.self_booked = role == ATR_ROLE_PATIENT;
	n.status = n.self_booked && t.needs_approval ? "pending" : "booked";
	n.leads = sched_cfg.leads_text;
	if (sched_check_slot(ctx, n.provider_id, &t, n.start, moves,
			     &n.location, &e) != ATR_OK) {
		if (e.status == 409) {
			lost(ctx, o, tk);
			return;
		}
		tk->status = e.status;
		sched_respond_err(ctx, &e);
		return;
	}
	if (sched_before_book(ctx, "waitlist", &n, moves, &n.status, &n.leads,
			      &e) != ATR_OK) {
		tk->status = e.status;
		sched_respond_err(ctx, &e);
		return;
	}
	rc = sched_api->tx_begin(ctx);
	if (rc == ATR_OK)
		rc = sched_exec(ctx,
				"UPDATE scheduling_offers SET status = "
				"'accepted', answered_at = ? WHERE id = ? AND "
				"status = 'sent'",
				json_pack("[I,I]", (json_int_t)now,
					  (json_int_t)sched_int(o, "id")),
				&changed, NULL);
	if (rc == ATR_OK && !changed) {
		/* another accept of this slot won and marked us lost */
		sched_api->tx_rollback(ctx);
		sched_tok_fail(ctx, tk, 409, "slot_taken",
			       "the slot was taken");
		return;
	}
	if (rc == ATR_OK && moves) {
		old_provider = a.provider_id;
		old_start = a.start;
		id = moves;
		rc = sched_move_appt(ctx, &a, n.provider_id, n.start,
				     n.start + t.duration_min * 60, n.location,
				     n.status, n.leads);
		if (rc == ATR_OK)
			rc = sched_cancel_reminders(ctx, id);
	} else if (rc == ATR_OK) {
		rc = sched_insert_appt(ctx, &n, &id);
	}
	if (rc == ATR_ECONFLICT) {
		sched_api->tx_rollback(ctx);
		lost(ctx, o, tk);
		return;
	}
	if (rc == ATR_OK && !strcmp(n.status, "booked"))
		rc = sched_queue_reminders(ctx, id);
	if (rc == ATR_OK)
		rc = sched_exec(ctx,
				"UPDATE scheduling_offers SET appointment_id = "
				"? WHERE id = ?",
				json_pack("[I,I]", (json_int_t)id,
					  (json_int_t)sched_int(o, "id")),
				NULL, NULL);
	if (rc == ATR_OK)
		rc = sched_exec(ctx,
				"UPDATE scheduling_waitlist SET status = "
				"'booked', updated_at = ? WHERE id = ?",
				json_pack("[I,I]", (json_int_t)now,
					  (json_int_t)sched_int(o,
								"waitlist_id")),
				NULL, NULL);
	if (rc == ATR_OK)
		rc = sched_exec(ctx,
				"UPDATE scheduling_freed SET status = 'filled' "
				"WHERE id = ?",
				json_pack("[I]",
					  (json_int_t)sched_int(o, "freed_id")),
				NULL, NULL);
	if (rc == ATR_OK)
		rc = others_lose(ctx, sched_int(o, "freed_id"));
	if (rc == ATR_OK) {
		sched_notice(ctx, id,
			     moves ? "rescheduled"
				   : (strcmp(n.status, "booked")
					  ? "requested"
					  : "booked"));
		rc = sched_api->tx_commit(ctx);
	}
	if (rc != ATR_OK) {
		sched_api->tx_rollback(ctx);
		tk->status = rc == ATR_EBUSY ? 503 : 500;
		sched_db_fail(ctx, rc, "the booking");
		return;
	}
	ev = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:o,s:o,s:s}", "offer_id",
		       (json_int_t)sched_int(o, "id"), "waitlist_id",
		       (json_int_t)sched_int(o, "waitlist_id"),
		       "appointment_id", (json_int_t)id, "patient_id",
		       (json_int_t)n.patient_id, "provider_id",
		       (json_int_t)n.provider_id, "type_id", (json_int_t)t.id,
		       "type_name", t.name, "start",
		       sched_time_json(ctx, n.start), "end",
		       sched_time_json(ctx, n.start + t.duration_min * 60),
		       "status", n.status);
	if (ev)
		sched_api->emit(ctx, "waitlist.offer_accepted", ev, NULL);
	json_decref(ev);
	sched_after_book(ctx, "waitlist", id);
	if (moves && old_start > now)
		sched_offer_freed(ctx, old_provider, old_start);
	view = sched_appt_json(ctx, id);
	if (!view) {
		tk->status = 500;
		sched_db_fail(ctx, ATR_ERR, "the appointment");
		return;
	}
	tk->status = 201;
	sched_api->respond_json(ctx, 201, json_pack("{s:o}", "appointment", view));
}

/* POST /offers/:token/accept: the first accept books the slot. */
int sched_h_offer_accept(struct atr_ctx *ctx)
{
	struct sched_tok tk = {200, 0, NULL};
	json_t *o = param_offer(ctx, &tk);
	if (o) {
		offer_accept(ctx, o, &tk);
		json_decref(o);
	}
	sched_tok_audit(ctx, &tk, "POST /api/scheduling/offers/:token/accept");
	return ATR_OK;
}
