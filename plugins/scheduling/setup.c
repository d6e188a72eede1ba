/*
 * setup.c - the practice's scheduling set-up: providers (physician
 * accounts with a display name and location), appointment types and which
 * providers offer them, weekly availability templates in practice-local
 * wall time, blocked time (UTC ranges), and each patient's own physician.
 *
 * Soft changes only: types, templates and blocks are switched off
 * (active = 0), never deleted, so past appointments keep their meaning.
 * Not here: slot derivation (availability.c) or bookings (booking.c).
 */
#include "sched.h"

#include <stdio.h>
#include <string.h>

/* ---- providers ---------------------------------------------------------- */

/* provider id -> [type ids] (or type id -> [provider ids] when by_type). */
static json_t *links(struct atr_ctx *ctx, int by_type)
{
	json_t *rows = sched_query(ctx,
				   "SELECT type_id, provider_id FROM "
				   "scheduling_type_providers ORDER BY "
				   "type_id, provider_id",
				   NULL),
	       *map = json_object(), *r;
	size_t i;
	json_array_foreach(rows, i, r)
	{
		char key[24];
		json_t *list;
		snprintf(key, sizeof(key), "%lld",
			 sched_int(r, by_type ? "type_id" : "provider_id"));
		list = json_object_get(map, key);
		if (!list) {
			list = json_array();
			json_object_set_new(map, key, list);
		}
		json_array_append_new(
		    list, json_integer(sched_int(
			      r, by_type ? "provider_id" : "type_id")));
	}
	json_decref(rows);
	return map;
}

static json_t *ids_of(json_t *map, long long id)
{
	char key[24];
	json_t *v;
	snprintf(key, sizeof(key), "%lld", id);
	v = json_object_get(map, key);
	return v ? json_copy(v) : json_array();
}

static int want_all(struct atr_ctx *ctx)
{
	const char *all = sched_api->req_query(ctx, "all");
	return all && !strcmp(all, "1") &&
	       (sched_api->user_role(ctx) &
		(ATR_ROLE_STAFF | ATR_ROLE_ADMIN | ATR_ROLE_PHYSICIAN));
}

static json_t *provider_view(json_t *row, json_t *map)
{
	return json_pack("{s:I,s:O,s:O,s:b,s:o}", "id",
			 (json_int_t)sched_int(row, "id"), "display_name",
			 json_object_get(row, "display_name"), "location",
			 json_object_get(row, "location"), "active",
			 (int)sched_int(row, "active"), "type_ids",
			 ids_of(map, sched_int(row, "id")));
}

/* GET /providers[?all=1] */
int sched_h_providers(struct atr_ctx *ctx)
{
	json_t *rows = sched_query(ctx,
				   "SELECT id, display_name, location, active "
				   "FROM scheduling_providers WHERE active = 1 "
				   "OR ? = 1 ORDER BY display_name, id",
				   json_pack("[i]", want_all(ctx))),
	       *map, *out, *r;
	size_t i;
	if (!rows)
		return sched_db_fail(ctx, ATR_ERR, "the providers");
	map = links(ctx, 0);
	out = json_array();
	json_array_foreach(rows, i, r)
	    json_array_append_new(out, provider_view(r, map));
	json_decref(map);
	json_decref(rows);
	return sched_api->respond_json(ctx, 200,
				       json_pack("{s:o}", "providers", out));
}

static int respond_provider(struct atr_ctx *ctx, int status, long long id)
{
	int st;
	json_t *row = sched_one(ctx,
				"SELECT id, display_name, location, active "
				"FROM scheduling_providers WHERE id = ?",
				json_pack("[I]", (json_int_t)id), &st),
	       *map, *view;
	if (!row)
		return sched_api->respond_error(ctx, 404, "not_found",
						"no such provider");
	map = links(ctx, 0);
	view = provider_view(row, map);
	json_decref(map);
	json_decref(row);
	return sched_api->respond_json(ctx, status,
				       json_pack("{s:o}", "provider", view));
}

static const struct atr_field provider_fields[] = {
    {"user_id", ATR_F_INT, 1, 0},
    {"display_name", ATR_F_STRING, 0, 120},
    {"location", ATR_F_STRING, 0, 120},
    {NULL, 0, 0, 0},
};

/* POST /providers {"user_id"[,"display_name","location"]} */
int sched_h_provider_add(struct atr_ctx *ctx)
{
	json_t *body = sched_api->req_json(ctx, provider_fields), *user;
	long long uid;
	const char *name, *loc;
	int st, rc;

	if (!body)
		return ATR_OK;
	uid = sched_int(body, "user_id");
	user = sched_one(ctx,
			 "SELECT display_name, role FROM users WHERE id = ?",
			 json_pack("[I]", (json_int_t)uid), &st);
	if (!user || strcmp(sched_str(user, "role"), "physician")) {
		json_decref(user);
		return sched_api->respond_error(
		    ctx, 422, "not_a_physician",
		    "providers must be physician accounts");
	}
	name = sched_str(body, "display_name");
	name = sched_api->sprintf(ctx, "%s",
				  name && *name ? name
						: sched_str(user, "display_name"));
	json_decref(user);
	loc = sched_str(body, "location");
	rc = sched_exec(ctx,
			"INSERT INTO scheduling_providers (id, display_name, "
			"location, created_at) VALUES (?, ?, ?, ?)",
			json_pack("[I,s,s,I]", (json_int_t)uid, name,
				  loc && *loc ? loc : sched_cfg.location,
				  (json_int_t)sched_api->now(ctx)),
			NULL, NULL);
	if (rc == ATR_ECONFLICT)
		return sched_api->respond_error(ctx, 409, "exists",
						"this physician is already a "
						"provider");
	if (rc != ATR_OK)
		return sched_db_fail(ctx, rc, "the provider");
	return respond_provider(ctx, 201, uid);
}

static const struct atr_field provider_put_fields[] = {
    {"display_name", ATR_F_STRING, 0, 120},
    {"location", ATR_F_STRING, 0, 120},
    {"active", ATR_F_BOOL, 0, 0},
    {NULL, 0, 0, 0},
};

/* PUT /providers/:id {"display_name"?,"location"?,"active"?} */
int sched_h_provider_put(struct atr_ctx *ctx)
{
	json_t *body;
	long long id, changed = 0;
	const char *name, *loc;
	json_t *act;
	int rc;

	if (sched_param_id(ctx, "id", &id) != ATR_OK)
		return ATR_OK;
	body = sched_api->req_json(ctx, provider_put_fields);
	if (!body)
		return ATR_OK;
	name = sched_str(body, "display_name");
	loc = sched_str(body, "location");
	act = json_object_get(body, "active");
	if ((name && !*name) || (loc && !*loc))
		return sched_api->respond_error(ctx, 400, "bad_request",
						"names must not be empty");
	rc = sched_exec(
	    ctx,
	    "UPDATE scheduling_providers SET display_name = COALESCE(?, "
	    "display_name), location = COALESCE(?, location), active = "
	    "COALESCE(?, active) WHERE id = ?",
	    json_pack("[s?,s?,o,I]", name, loc,
		      act ? json_integer(json_is_true(act)) : json_null(),
		      (json_int_t)id),
	    &changed, NULL);
	if (rc != ATR_OK)
		return sched_db_fail(ctx, rc, "the provider");
	if (!changed)
		return sched_api->respond_error(ctx, 404, "not_found",
						"no such provider");
	return respond_provider(ctx, 200, id);
}

/* ---- appointment types ------------------------------------------------ */

static json_t *type_view(json_t *row, json_t *map)
{
	return json_pack("{s:I,s:O,s:I,s:b,s:b,s:b,s:b,s:o}", "id",
			 (json_int_t)sched_int(row, "id"), "name",
			 json_object_get(row, "name"), "duration_minutes",
			 (json_int_t)sched_int(row, "duration_minutes"),
			 "self_bookable", (int)sched_int(row, "self_bookable"),
			 "needs_approval", (int)sched_int(row, "needs_approval"),
			 "new_patient", (int)sched_int(row, "new_patient"),
			 "active", (int)sched_int(row, "active"),
			 "provider_ids", ids_of(map, sched_int(row, "id")));
}

#define TYPE_COLUMNS                                                           \
	"SELECT id, name, duration_minutes, self_bookable, needs_approval, "   \
	"new_patient, active FROM scheduling_types "

/* GET /types[?all=1] */
int sched_h_types(struct atr_ctx *ctx)
{
	json_t *rows = sched_query(ctx,
				   TYPE_COLUMNS "WHERE active = 1 OR ? = 1 "
						"ORDER BY name",
				   json_pack("[i]", want_all(ctx))),
	       *map, *out, *r;
	size_t i;
	if (!rows)
		return sched_db_fail(ctx, ATR_ERR, "the appointment types");
	map = links(ctx, 1);
	out = json_array();
	json_array_foreach(rows, i, r)
	    json_array_append_new(out, type_view(r, map));
	json_decref(map);
	json_decref(rows);
	return sched_api->respond_json(ctx, 200,
				       json_pack("{s:o}", "types", out));
}

static int respond_type(struct atr_ctx *ctx, int status, long long id)
{
	int st;
	json_t *row = sched_one(ctx, TYPE_COLUMNS "WHERE id = ?",
				json_pack("[I]", (json_int_t)id), &st),
	       *map, *view;
	if (!row)
		return sched_api->respond_error(ctx, 404, "not_found",
						"no such appointment type");
	map = links(ctx, 1);
	view = type_view(row, map);
	json_decref(map);
	json_decref(row);
	return sched_api->respond_json(ctx, status,
				       json_pack("{s:o}", "type", view));
}

/* Replaces which providers offer type id (caller's transaction). 422 is
 * written for an unknown provider. */
static int set_type_providers(struct atr_ctx *ctx, long long id,
			      json_t *ids)
{
	size_t i;
	json_t *v;
	int rc = sched_exec(ctx,
			    "DELETE FROM scheduling_type_providers WHERE "
			    "type_id = ?",
			    json_pack("[I]", (json_int_t)id), NULL, NULL);
	json_array_foreach(ids, i, v)
	{
		if (rc != ATR_OK)
			break;
		if (!json_is_integer(v) ||
		    !sched_provider_name(ctx, json_integer_value(v), NULL)) {
			sched_api->respond_error(ctx, 422, "unknown_provider",
						 "provider_ids names a provider "
						 "that does not exist");
			return ATR_ERESPONDED;
		}
		rc = sched_exec(ctx,
				"INSERT INTO scheduling_type_providers "
				"(type_id, provider_id) VALUES (?, ?)",
				json_pack("[I,O]", (json_int_t)id, v), NULL,
				NULL);
		if (rc == ATR_ECONFLICT)
			rc = ATR_OK; /* listed twice */
	}
	return rc;
}

static int check_duration(struct atr_ctx *ctx, json_t *v)
{
	json_int_t d;
	if (!v)
		return ATR_OK;
	d = json_integer_value(v);
	if (d < 5 || d > SCHED_MAX_DURATION_MIN || d % 5) {
		sched_api->respond_error(
		    ctx, 422, "bad_duration",
		    "duration_minutes must be a multiple of 5 from 5 to %d",
		    SCHED_MAX_DURATION_MIN);
		return ATR_ERESPONDED;
	}
	return ATR_OK;
}

static const struct atr_field type_fields[] = {
    {"name", ATR_F_STRING, 1, 120},
    {"duration_minutes", ATR_F_INT, 1, 0},
    {"self_bookable", ATR_F_BOOL, 0, 0},
    {"needs_approval", ATR_F_BOOL, 0, 0},
    {"new_patient", ATR_F_BOOL, 0, 0},
    {"provider_ids", ATR_F_ARRAY, 0, 0},
    {NULL, 0, 0, 0},
};

/* The rest of a type save, inside the open transaction. */
static int finish_type(struct atr_ctx *ctx, int rc, long long id,
		       json_t *ids, int status)
{
	if (rc == ATR_OK && ids) {
		rc = set_type_providers(ctx, id, ids);
		if (rc == ATR_ERESPONDED) {
			sched_api->tx_rollback(ctx);
			return ATR_OK;
		}
	}
	if (rc == ATR_OK)
		rc = sched_api->tx_commit(ctx);
	if (rc != ATR_OK) {
		sched_api->tx_rollback(ctx);
		if (rc == ATR_ECONFLICT)
			return sched_api->respond_error(
			    ctx, 409, "exists",
			    "an appointment type of that name exists");
		return sched_db_fail(ctx, rc, "the appointment type");
	}
	return respond_type(ctx, status, id);
}

/* POST /types {"name","duration_minutes",...,"provider_ids"?} */
int sched_h_type_add(struct atr_ctx *ctx)
{
	json_t *body = sched_api->req_json(ctx, type_fields);
	long long id = 0;
	int rc;

	if (!body ||
	    check_duration(ctx, json_object_get(body, "duration_minutes")) !=
		ATR_OK)
		return ATR_OK;
	if (!*sched_str(body, "name"))
		return sched_api->respond_error(ctx, 400, "bad_request",
						"name must not be empty");
	rc = sched_api->tx_begin(ctx);
	if (rc == ATR_OK)
		rc = sched_exec(
		    ctx,
		    "INSERT INTO scheduling_types (name, duration_minutes, "
		    "self_bookable, needs_approval, new_patient, created_at) "
		    "VALUES (?, ?, ?, ?, ?, ?)",
		    json_pack("[s,I,b,b,b,I]", sched_str(body, "name"),
			      (json_int_t)sched_int(body, "duration_minutes"),
			      json_is_true(json_object_get(body,
							   "self_bookable")),
			      json_is_true(json_object_get(body,
							   "needs_approval")),
			      json_is_true(json_object_get(body,
							   "new_patient")),
			      (json_int_t)sched_api->now(ctx)),
		    NULL, &id);
	return finish_type(ctx, rc, id, json_object_get(body, "provider_ids"),
			   201);
}

static const struct atr_field type_put_fields[] = {
    {"name", ATR_F_STRING, 0, 120},
    {"duration_minutes", ATR_F_INT, 0, 0},
    {"self_bookable", ATR_F_BOOL, 0, 0},
    {"needs_approval", ATR_F_BOOL, 0, 0},
    {"new_patient", ATR_F_BOOL, 0, 0},
    {"active", ATR_F_BOOL, 0, 0},
    {"provider_ids", ATR_F_ARRAY, 0, 0},
    {NULL, 0, 0, 0},
};

static json_t *opt_bool(json_t *body, const char *key)
{
	json_t *v = json_object_get(body, key);
	return v ? json_integer(json_is_true(v)) : json_null();
}

/* PUT /types/:id {any of the type's fields}. A new duration applies to
 * visits booked from now on. */
int sched_h_type_put(struct atr_ctx *ctx)
{
	json_t *body;
	long long id, changed = 0;
	const char *name;
	int rc;

	if (sched_param_id(ctx, "id", &id) != ATR_OK)
		return ATR_OK;
	body = sched_api->req_json(ctx, type_put_fields);
	if (!body ||
	    check_duration(ctx, json_object_get(body, "duration_minutes")) !=
		ATR_OK)
		return ATR_OK;
	name = sched_str(body, "name");
	if (name && !*name)
		return sched_api->respond_error(ctx, 400, "bad_request",
						"name must not be empty");
	rc = sched_api->tx_begin(ctx);
	if (rc == ATR_OK)
		rc = sched_exec(
		    ctx,
		    "UPDATE scheduling_types SET name = COALESCE(?, name), "
		    "duration_minutes = COALESCE(?, duration_minutes), "
		    "self_bookable = COALESCE(?, self_bookable), "
		    "needs_approval = COALESCE(?, needs_approval), "
		    "new_patient = COALESCE(?, new_patient), active = "
		    "COALESCE(?, active) WHERE id = ?",
		    json_pack("[s?,O?,o,o,o,o,I]", name,
			      json_object_get(body, "duration_minutes"),
			      opt_bool(body, "self_bookable"),
			      opt_bool(body, "needs_approval"),
			      opt_bool(body, "new_patient"),
			      opt_bool(body, "active"), (json_int_t)id),
		    &changed, NULL);
	if (rc == ATR_OK && !changed) {
		sched_api->tx_rollback(ctx);
		return sched_api->respond_error(ctx, 404, "not_found",
						"no such appointment type");
	}
	return finish_type(ctx, rc, id, json_object_get(body, "provider_ids"),
			   200);
}

/* DELETE /types/:id: switched off; booked visits keep it. */
int sched_h_type_del(struct atr_ctx *ctx)
{
	long long id, changed = 0;
	int rc;
	if (sched_param_id(ctx, "id", &id) != ATR_OK)
		return ATR_OK;
	rc = sched_exec(ctx,
			"UPDATE scheduling_types SET active = 0 WHERE id = ?",
			json_pack("[I]", (json_int_t)id), &changed, NULL);
	if (rc != ATR_OK)
		return sched_db_fail(ctx, rc, "the appointment type");
	if (!changed)
		return sched_api->respond_error(ctx, 404, "not_found",
						"no such appointment type");
	return respond_type(ctx, 200, id);
}

/* ---- availability templates -------------------------------------------- */

static json_t *template_view(json_t *row)
{
	char s[6], e[6];
	sched_format_hhmm((int)sched_int(row, "start_minute"), s);
	sched_format_hhmm((int)sched_int(row, "end_minute"), e);
	return json_pack("{s:I,s:I,s:O,s:I,s:s,s:s,s:O,s:O,s:b}", "id",
			 (json_int_t)sched_int(row, "id"), "provider_id",
			 (json_int_t)sched_int(row, "provider_id"), "location",
			 json_object_get(row, "location"), "weekday",
			 (json_int_t)sched_int(row, "weekday"), "start", s,
			 "end", e, "valid_from",
			 json_object_get(row, "valid_from"), "valid_until",
			 json_object_get(row, "valid_until"), "active",
			 (int)sched_int(row, "active"));
}

#define TEMPLATE_COLUMNS                                                       \
	"SELECT id, provider_id, location, weekday, start_minute, "            \
	"end_minute, valid_from, valid_until, active FROM "                    \
	"scheduling_templates "

/* GET /availability?provider=ID */
int sched_h_templates(struct atr_ctx *ctx)
{
	long long provider;
	json_t *rows, *out, *r;
	size_t i;
	if (sched_query_id(ctx, "provider", &provider) != ATR_OK)
		return ATR_OK;
	rows = sched_query(ctx,
			   TEMPLATE_COLUMNS "WHERE active = 1 AND (? = 0 OR "
					    "provider_id = ?) ORDER BY "
					    "provider_id, weekday, "
					    "start_minute",
			   json_pack("[I,I]", (json_int_t)provider,
				     (json_int_t)provider));
	if (!rows)
		return sched_db_fail(ctx, ATR_ERR, "the availability");
	out = json_array();
	json_array_foreach(rows, i, r)
	    json_array_append_new(out, template_view(r));
	json_decref(rows);
	return sched_api->respond_json(ctx, 200,
				       json_pack("{s:o}", "templates", out));
}

struct tpl_in {
	long long provider_id;
	int weekday, start, end;
	const char *location, *from, *until;
};

static int refuse(struct atr_ctx *ctx, const char *code, const char *msg)
{
	sched_api->respond_error(ctx, 422, code, "%s", msg);
	return ATR_ERESPONDED;
}

/* Validates a template; writes the 422 and returns ATR_ERESPONDED. */
static int check_template(struct atr_ctx *ctx, const struct tpl_in *t)
{
	struct sched_date d;
	if (!sched_provider_name(ctx, t->provider_id, NULL))
		return refuse(ctx, "unknown_provider", "no such provider");
	if (t->weekday < 1 || t->weekday > 7)
		return refuse(ctx, "bad_weekday",
			      "weekday must be 1 (Monday) to 7 (Sunday)");
	if (t->start < 0 || t->end < 0 || t->end <= t->start)
		return refuse(ctx, "bad_hours",
			      "start and end must be times like 09:00 "
			      "(minutes a multiple of 5), with end after "
			      "start");
	if ((t->from && sched_parse_date(t->from, &d)) ||
	    (t->until && sched_parse_date(t->until, &d)) ||
	    (t->from && t->until && strcmp(t->from, t->until) > 0))
		return refuse(ctx, "bad_dates",
			      "valid_from and valid_until must be dates like "
			      "2026-12-01, in order");
	return ATR_OK;
}

/* Another active template of the provider overlapping t (caller's tx)? */
static int template_overlaps(struct atr_ctx *ctx, const struct tpl_in *t,
			     long long except)
{
	int st;
	json_t *row = sched_one(
	    ctx,
	    "SELECT id FROM scheduling_templates WHERE provider_id = ? AND "
	    "weekday = ? AND active = 1 AND id != ? AND start_minute < ? AND "
	    "end_minute > ? AND (valid_from IS NULL OR ? IS NULL OR "
	    "valid_from <= ?) AND (valid_until IS NULL OR ? IS NULL OR "
	    "valid_until >= ?)",
	    json_pack("[I,i,I,i,i,s?,s?,s?,s?]", (json_int_t)t->provider_id,
		      t->weekday, (json_int_t)except, t->end, t->start,
		      t->until, t->until, t->from, t->from),
	    &st);
	json_decref(row);
	return row != NULL;
}

static int respond_template(struct atr_ctx *ctx, int status, long long id)
{
	int st;
	json_t *row = sched_one(ctx, TEMPLATE_COLUMNS "WHERE id = ?",
				json_pack("[I]", (json_int_t)id), &st);
	json_t *view;
	if (!row)
		return sched_api->respond_error(ctx, 404, "not_found",
						"no such availability");
	view = template_view(row);
	json_decref(row);
	return sched_api->respond_json(ctx, status,
				       json_pack("{s:o}", "template", view));
}

/* Saves t as template `id` (0 = new) in a transaction, refusing overlaps. */
static int save_template(struct atr_ctx *ctx, const struct tpl_in *t,
			 long long id)
{
	int rc = sched_api->tx_begin(ctx);
	long long nid = id;
	if (rc != ATR_OK)
		return sched_db_fail(ctx, rc, "the availability");
	if (template_overlaps(ctx, t, id)) {
		sched_api->tx_rollback(ctx);
		return sched_api->respond_error(
		    ctx, 409, "overlaps",
		    "these hours overlap another availability of this "
		    "provider on that weekday");
	}
	if (id)
		rc = sched_exec(
		    ctx,
		    "UPDATE scheduling_templates SET provider_id = ?, "
		    "location = ?, weekday = ?, start_minute = ?, end_minute "
		    "= ?, valid_from = ?, valid_until = ? WHERE id = ?",
		    json_pack("[I,s,i,i,i,s?,s?,I]", (json_int_t)t->provider_id,
			      t->location, t->weekday, t->start, t->end,
			      t->from, t->until, (json_int_t)id),
		    NULL, NULL);
	else
		rc = sched_exec(
		    ctx,
		    "INSERT INTO scheduling_templates (provider_id, location, "
		    "weekday, start_minute, end_minute, valid_from, "
		    "valid_until, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		    json_pack("[I,s,i,i,i,s?,s?,I]", (json_int_t)t->provider_id,
			      t->location, t->weekday, t->start, t->end,
			      t->from, t->until,
			      (json_int_t)sched_api->now(ctx)),
		    NULL, &nid);
	if (rc == ATR_OK)
		rc = sched_api->tx_commit(ctx);
	if (rc != ATR_OK) {
		sched_api->tx_rollback(ctx);
		return sched_db_fail(ctx, rc, "the availability");
	}
	return respond_template(ctx, id ? 200 : 201, nid);
}

static const struct atr_field template_fields[] = {
    {"provider_id", ATR_F_INT, 1, 0}, {"weekday", ATR_F_INT, 1, 0},
    {"start", ATR_F_STRING, 1, 5},    {"end", ATR_F_STRING, 1, 5},
    {"location", ATR_F_STRING, 0, 120}, {"valid_from", ATR_F_STRING, 0, 10},
    {"valid_until", ATR_F_STRING, 0, 10}, {NULL, 0, 0, 0},
};

static void template_from_body(struct atr_ctx *ctx, json_t *body,
			       struct tpl_in *t)
{
	const char *loc = sched_str(body, "location");
	if (json_object_get(body, "provider_id"))
		t->provider_id = sched_int(body, "provider_id");
	if (json_object_get(body, "weekday"))
		t->weekday = (int)sched_int(body, "weekday");
	if (sched_str(body, "start"))
		t->start = sched_parse_hhmm(sched_str(body, "start"));
	if (sched_str(body, "end"))
		t->end = sched_parse_hhmm(sched_str(body, "end"));
	if (loc && *loc)
		t->location = sched_api->sprintf(ctx, "%s", loc);
	if (json_object_get(body, "valid_from"))
		t->from = sched_str(body, "valid_from");
	if (json_object_get(body, "valid_until"))
		t->until = sched_str(body, "valid_until");
}

/* POST /availability {"provider_id","weekday","start","end",...} */
int sched_h_template_add(struct atr_ctx *ctx)
{
	json_t *body = sched_api->req_json(ctx, template_fields);
	struct tpl_in t;
	const char *ploc = NULL;

	if (!body)
		return ATR_OK;
	memset(&t, 0, sizeof(t));
	template_from_body(ctx, body, &t);
	if (check_template(ctx, &t) != ATR_OK)
		return ATR_OK;
	if (!t.location) {
		sched_provider_name(ctx, t.provider_id, &ploc);
		t.location = ploc ? ploc : sched_cfg.location;
	}
	return save_template(ctx, &t, 0);
}

static const struct atr_field template_put_fields[] = {
    {"provider_id", ATR_F_INT, 0, 0}, {"weekday", ATR_F_INT, 0, 0},
    {"start", ATR_F_STRING, 0, 5},    {"end", ATR_F_STRING, 0, 5},
    {"location", ATR_F_STRING, 0, 120}, {"valid_from", ATR_F_ANY, 0, 10},
    {"valid_until", ATR_F_ANY, 0, 10}, {NULL, 0, 0, 0},
};

/* PUT /availability/:id {any template field; valid_* may be null} */
int sched_h_template_put(struct atr_ctx *ctx)
{
	json_t *body, *row;
	struct tpl_in t;
	long long id;
	int st;

	if (sched_param_id(ctx, "id", &id) != ATR_OK)
		return ATR_OK;
	body = sched_api->req_json(ctx, template_put_fields);
	if (!body)
		return ATR_OK;
	row = sched_one(ctx, TEMPLATE_COLUMNS "WHERE id = ? AND active = 1",
			json_pack("[I]", (json_int_t)id), &st);
	if (!row)
		return sched_api->respond_error(ctx, 404, "not_found",
						"no such availability");
	memset(&t, 0, sizeof(t));
	t.provider_id = sched_int(row, "provider_id");
	t.weekday = (int)sched_int(row, "weekday");
	t.start = (int)sched_int(row, "start_minute");
	t.end = (int)sched_int(row, "end_minute");
	t.location = sched_api->sprintf(ctx, "%s", sched_str(row, "location"));
	t.from = sched_str(row, "valid_from")
		     ? sched_api->sprintf(ctx, "%s",
					  sched_str(row, "valid_from"))
		     : NULL;
	t.until = sched_str(row, "valid_until")
		      ? sched_api->sprintf(ctx, "%s",
					   sched_str(row, "valid_until"))
		      : NULL;
	json_decref(row);
	for (const char *const *k = (const char *const[]){"valid_from",
							  "valid_until", NULL};
	     *k; k++) {
		json_t *v = json_object_get(body, *k);
		if (v && !json_is_null(v) && !json_is_string(v))
			return sched_api->respond_error(
			    ctx, 400, "bad_request",
			    "%s must be a date or null", *k);
	}
	template_from_body(ctx, body, &t);
	if (json_is_null(json_object_get(body, "valid_from")))
		t.from = NULL;
	if (json_is_null(json_object_get(body, "valid_until")))
		t.until = NULL;
	if (check_template(ctx, &t) != ATR_OK)
		return ATR_OK;
	return save_template(ctx, &t, id);
}

/* DELETE /availability/:id: switched off. */
int sched_h_template_del(struct atr_ctx *ctx)
{
	long long id, changed = 0;
	int rc;
	if (sched_param_id(ctx, "id", &id) != ATR_OK)
		return ATR_OK;
	rc = sched_exec(ctx,
			"UPDATE scheduling_templates SET active = 0 WHERE id "
			"= ? AND active = 1",
			json_pack("[I]", (json_int_t)id), &changed, NULL);
	if (rc != ATR_OK)
		return sched_db_fail(ctx, rc, "the availability");
	if (!changed)
		return sched_api->respond_error(ctx, 404, "not_found",
						"no such availability");
	return sched_api->respond_json(ctx, 204, NULL);
}

/* ---- blocks ---------------------------------------------------------- */

static json_t *block_view(struct atr_ctx *ctx, json_t *row)
{
	return json_pack("{s:I,s:O,s:o,s:o,s:O,s:I}", "id",
			 (json_int_t)sched_int(row, "id"), "provider_id",
			 json_object_get(row, "provider_id"), "start",
			 sched_time_json(ctx, (time_t)sched_int(row, "start_utc")),
			 "end",
			 sched_time_json(ctx, (time_t)sched_int(row, "end_utc")),
			 "reason", json_object_get(row, "reason"), "created_by",
			 (json_int_t)sched_int(row, "created_by"));
}

/* GET /blocks?provider=ID&from=RFC3339&to=RFC3339 (default: from now, 90
 * days). */
int sched_h_blocks(struct atr_ctx *ctx)
{
	const char *fs = sched_api->req_query(ctx, "from");
	const char *ts = sched_api->req_query(ctx, "to");
	time_t from = sched_api->now(ctx), to;
	long long provider;
	json_t *rows, *out, *r;
	size_t i;

	if (sched_query_id(ctx, "provider", &provider) != ATR_OK)
		return ATR_OK;
	if (fs && *fs && sched_parse_time(ctx, fs, "from", &from) != ATR_OK)
		return ATR_OK;
	to = from + 90 * 86400;
	if (ts && *ts && sched_parse_time(ctx, ts, "to", &to) != ATR_OK)
		return ATR_OK;
	rows = sched_query(ctx,
			   "SELECT id, provider_id, start_utc, end_utc, reason, "
			   "created_by FROM scheduling_blocks WHERE active = 1 "
			   "AND (? = 0 OR provider_id = ? OR provider_id IS "
			   "NULL) AND start_utc < ? AND end_utc > ? ORDER BY "
			   "start_utc LIMIT 1000",
			   json_pack("[I,I,I,I]", (json_int_t)provider,
				     (json_int_t)provider, (json_int_t)to,
				     (json_int_t)from));
	if (!rows)
		return sched_db_fail(ctx, ATR_ERR, "the blocks");
	out = json_array();
	json_array_foreach(rows, i, r)
	    json_array_append_new(out, block_view(ctx, r));
	json_decref(rows);
	return sched_api->respond_json(ctx, 200,
				       json_pack("{s:o}", "blocks", out));
}

static const struct atr_field block_fields[] = {
    {"provider_id", ATR_F_INT, 0, 0},
    {"start", ATR_F_STRING, 1, 64},
    {"end", ATR_F_STRING, 1, 64},
    {"reason", ATR_F_STRING, 0, 200},
    {NULL, 0, 0, 0},
};

/* POST /blocks {"start","end"[,"provider_id","reason"]}: physicians block
 * their own time, staff anyone's or (without provider_id) the practice's.
 * Visits already booked in the range stay; they are listed as conflicts
 * for staff to move. */
int sched_h_block_add(struct atr_ctx *ctx)
{
	json_t *body = sched_api->req_json(ctx, block_fields), *rows, *conf,
	       *r, *out;
	long long provider, id = 0;
	time_t start, end;
	size_t i;
	int rc;

	if (!body)
		return ATR_OK;
	provider = sched_int(body, "provider_id");
	if (sched_parse_time(ctx, sched_str(body, "start"), "start", &start) !=
		ATR_OK ||
	    sched_parse_time(ctx, sched_str(body, "end"), "end", &end) !=
		ATR_OK)
		return ATR_OK;
	if (end <= start || end - start > 366L * 86400)
		return sched_api->respond_error(
		    ctx, 422, "bad_range",
		    "end must be after start, within a year");
	if (sched_api->user_role(ctx) == ATR_ROLE_PHYSICIAN &&
	    provider != sched_api->user_id(ctx))
		return sched_api->respond_error(
		    ctx, 403, "forbidden",
		    "physicians can only block their own time");
	if (provider && !sched_provider_name(ctx, provider, NULL))
		return sched_api->respond_error(ctx, 422, "unknown_provider",
						"no such provider");
	rc = sched_exec(
	    ctx,
	    "INSERT INTO scheduling_blocks (provider_id, start_utc, end_utc, "
	    "reason, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)",
	    json_pack("[o,I,I,s,I,I]",
		      provider ? json_integer(provider) : json_null(),
		      (json_int_t)start, (json_int_t)end,
		      sched_str(body, "reason") ? sched_str(body, "reason") : "",
		      (json_int_t)sched_api->user_id(ctx),
		      (json_int_t)sched_api->now(ctx)),
	    NULL, &id);
	if (rc != ATR_OK)
		return sched_db_fail(ctx, rc, "the block");
	rows = sched_query(ctx,
			   SCHED_APPT_SELECT
			   "WHERE a.status IN " SCHED_ACTIVE_SQL
			   " AND (? = 0 OR a.provider_id = ?) AND a.start_utc "
			   "< ? AND a.end_utc > ? ORDER BY a.start_utc",
			   json_pack("[I,I,I,I]", (json_int_t)provider,
				     (json_int_t)provider, (json_int_t)end,
				     (json_int_t)start));
	conf = json_array();
	json_array_foreach(rows, i, r)
	    json_array_append_new(conf, sched_appt_view(ctx, r));
	json_decref(rows);
	r = sched_one(ctx,
		      "SELECT id, provider_id, start_utc, end_utc, reason, "
		      "created_by FROM scheduling_blocks WHERE id = ?",
		      json_pack("[I]", (json_int_t)id), &rc);
	out = r ? block_view(ctx, r) : json_null();
	json_decref(r);
	return sched_api->respond_json(
	    ctx, 201, json_pack("{s:o,s:o}", "block", out, "conflicts", conf));
}

/* DELETE /blocks/:id */
int sched_h_block_del(struct atr_ctx *ctx)
{
	long long id, changed = 0;
	json_t *row;
	int st, rc;
	if (sched_param_id(ctx, "id", &id) != ATR_OK)
		return ATR_OK;
	row = sched_one(ctx,
			"SELECT provider_id FROM scheduling_blocks WHERE id = "
			"? AND active = 1",
			json_pack("[I]", (json_int_t)id), &st);
	if (!row)
		return sched_api->respond_error(ctx, 404, "not_found",
						"no such block");
	if (sched_api->user_role(ctx) == ATR_ROLE_PHYSICIAN &&
	    sched_int(row, "provider_id") != sched_api->user_id(ctx)) {
		json_decref(row);
		return sched_api->respond_error(
		    ctx, 403, "forbidden",
		    "physicians can only remove their own blocks");
	}
	json_decref(row);
	rc = sched_exec(ctx,
			"UPDATE scheduling_blocks SET active = 0 WHERE id = ?",
			json_pack("[I]", (json_int_t)id), &changed, NULL);
	if (rc != ATR_OK)
		return sched_db_fail(ctx, rc, "the block");
	return sched_api->respond_json(ctx, 204, NULL);
}

/* ---- a patient's own physician -------------------------------------- */

static int respond_primary(struct atr_ctx *ctx, long long patient)
{
	int st;
	json_t *row = sched_one(
	    ctx,
	    "SELECT pp.provider_id, p.display_name FROM "
	    "scheduling_primary_providers pp JOIN scheduling_providers p ON "
	    "p.id = pp.provider_id WHERE pp.patient_id = ?",
	    json_pack("[I]", (json_int_t)patient), &st);
	json_t *out = json_pack(
	    "{s:I,s:o,s:o}", "patient_id", (json_int_t)patient, "provider_id",
	    row ? json_integer(sched_int(row, "provider_id")) : json_null(),
	    "provider_name",
	    row ? json_string(sched_str(row, "display_name")) : json_null());
	json_decref(row);
	return sched_api->respond_json(ctx, 200, out);
}

/* GET /patients/:id/provider */
int sched_h_primary_get(struct atr_ctx *ctx)
{
	long long patient;
	if (sched_param_id(ctx, "id", &patient) != ATR_OK ||
	    sched_api->check_patient(ctx, patient) != ATR_OK)
		return ATR_OK;
	return respond_primary(ctx, patient);
}

static const struct atr_field primary_fields[] = {
    {"provider_id", ATR_F_INT, 1, 0},
    {NULL, 0, 0, 0},
};

/* PUT /patients/:id/provider {"provider_id"} (care team) */
int sched_h_primary_put(struct atr_ctx *ctx)
{
	long long patient, provider;
	json_t *body;
	int rc;
	if (sched_param_id(ctx, "id", &patient) != ATR_OK ||
	    sched_api->check_patient(ctx, patient) != ATR_OK)
		return ATR_OK;
	body = sched_api->req_json(ctx, primary_fields);
	if (!body)
		return ATR_OK;
	provider = sched_int(body, "provider_id");
	if (!sched_provider_name(ctx, provider, NULL))
		return sched_api->respond_error(ctx, 422, "unknown_provider",
						"no such provider");
	rc = sched_api->tx_begin(ctx);
	if (rc == ATR_OK)
		rc = sched_exec(ctx,
				"DELETE FROM scheduling_primary_providers "
				"WHERE patient_id = ?",
				json_pack("[I]", (json_int_t)patient), NULL,
				NULL);
	if (rc == ATR_OK)
		rc = sched_exec(ctx,
				"INSERT INTO scheduling_primary_providers "
				"(patient_id, provider_id, updated_at) VALUES "
				"(?, ?, ?)",
				json_pack("[I,I,I]", (json_int_t)patient,
					  (json_int_t)provider,
					  (json_int_t)sched_api->now(ctx)),
				NULL, NULL);
	if (rc == ATR_OK)
		rc = sched_api->tx_commit(ctx);
	if (rc != ATR_OK) {
		sched_api->tx_rollback(ctx);
		return sched_db_fail(ctx, rc, "the physician");
	}
	return respond_primary(ctx, patient);
}
