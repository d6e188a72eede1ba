/*
 * notify.c - see notify.h. The notification routes a signed-in user and the
 * staff see (the in-portal list, mark read, opening a message's single-use
 * link, the delivery log), and starting and stopping the subsystem.
 * Preferences and email confirmation routes are in notify_prefs.c; the
 * delivery itself in notify_worker.c. Handlers run on request threads and
 * only read and write rows: nothing here talks to SMTP or a webhook.
 */
#include "notify.h"

#include "curl_dyn.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "core_routes.h"
#include "crypto.h"
#include "db.h"
#include "log.h"
#include "request.h"

#define LINK_TTL (30 * 24 * 3600)

static int started;

/* A whole decimal number in [1, max] (or def when s is NULL); -1 when s is
 * not one. */
static long long parse_count(const char *s, long long def, long long max)
{
	char *end;
	long long v;

	if (!s)
		return def;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 1 || s[0] == '+' || s[0] == ' ')
		return -1;
	return v > max ? max : v;
}

static json_t *time_json(sqlite3_stmt *st, int col)
{
	char buf[32];
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return json_null();
	time_format_rfc3339((time_t)sqlite3_column_int64(st, col), buf);
	return json_string(buf);
}

static json_t *text_json(sqlite3_stmt *st, int col)
{
	const char *t = (const char *)sqlite3_column_text(st, col);
	return t ? json_string(t) : json_null();
}

/* ---- the in-portal list --------------------------------------------- */

static int h_list(struct atr_ctx *ctx)
{
	struct db *db = ctx_db(ctx);
	long long limit = parse_count(request_query(ctx->req, "limit"), 50,
				      200);
	json_t *list, *out;
	sqlite3_stmt *st;
	long long unread = 0;

	if (limit < 0)
		return respond_error(ctx->req, 400, "invalid_limit",
				     "limit must be a whole number from 1");
	list = json_array();
	st = db_stmt(db,
		     "SELECT o.id, o.kind, d.title, d.body, d.sent_at, "
		     "o.read_at IS NOT NULL, d.link FROM notify_deliveries d "
		     "JOIN outbox o ON o.id = d.outbox_id WHERE d.user_id = ? "
		     "AND d.channel = 'portal' AND d.status = 'sent' ORDER BY "
		     "d.sent_at DESC, d.id DESC LIMIT ?",
		     "ii", ctx->user_id, limit);
	if (!st || !list)
		goto fail;
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(
		    list,
		    json_pack("{s:I,s:o,s:o,s:o,s:o,s:b,s:o}", "id",
			      (json_int_t)sqlite3_column_int64(st, 0), "kind",
			      text_json(st, 1), "title", text_json(st, 2),
			      "body", text_json(st, 3), "created_at",
			      time_json(st, 4), "read",
			      sqlite3_column_int(st, 5), "link",
			      text_json(st, 6)));
	sqlite3_reset(st);
	st = db_stmt(db,
		     "SELECT COUNT(*) FROM notify_deliveries d JOIN outbox o "
		     "ON o.id = d.outbox_id WHERE d.user_id = ? AND d.channel "
		     "= 'portal' AND d.status = 'sent' AND o.read_at IS NULL",
		     "i", ctx->user_id);
	if (!st)
		goto fail;
	if (sqlite3_step(st) == SQLITE_ROW)
		unread = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	out = json_pack("{s:o,s:I}", "notifications", list, "unread",
			(json_int_t)unread);
	return respond_json(ctx->req, 200, out);
fail:
	json_decref(list);
	return respond_error(ctx->req, 500, "internal_error",
			     "notifications cannot be read");
}

static int h_read(struct atr_ctx *ctx)
{
	long long id = parse_count(request_param(ctx->req, "id"), -1,
				   (long long)9e18);
	struct db *db = ctx_db(ctx);

	if (id > 0 &&
	    db_done(db_stmt(db,
			    "UPDATE outbox SET read_at = COALESCE(read_at, ?) "
			    "WHERE id = ? AND user_id = ? AND EXISTS (SELECT "
			    "1 FROM notify_deliveries d WHERE d.outbox_id = "
			    "outbox.id AND d.channel = 'portal' AND d.status "
			    "= 'sent')",
			    "iii", (long long)time(NULL), id,
			    ctx->user_id)) == ATR_OK &&
	    sqlite3_changes(db_handle(db)) == 1)
		return respond_raw(ctx->req, 204, NULL, NULL, 0);
	return respond_error(ctx->req, 404, "not_found",
			     "no such notification");
}

static const struct atr_field open_fields[] = {
    {"token", ATR_F_STRING, 1, 128},
    {NULL, 0, 0, 0},
};

/* POST /api/notifications/open {"token"}: the single-use link of an email
 * or webhook message, opened by its recipient. */
static int h_open(struct atr_ctx *ctx)
{
	json_t *body = atr_host_api.req_json(ctx, open_fields), *data = NULL;
	struct db *db = ctx_db(ctx);
	const char *token, *link;
	char hash[65];
	long long did = 0, oid = 0, used = 0, created = 0;
	long long now = (long long)time(NULL);
	sqlite3_stmt *st;
	json_t *out;

	if (!body)
		return ATR_ERESPONDED;
	token = json_string_value(json_object_get(body, "token"));
	sha256_hex(token, strlen(token), hash);
	st = db_stmt(db,
		     "SELECT d.id, d.outbox_id, d.link_used_at, d.created_at, "
		     "o.data FROM notify_deliveries d JOIN outbox o ON o.id = "
		     "d.outbox_id WHERE d.link_token_hash = ? AND d.user_id = ?",
		     "si", hash, ctx->user_id);
	if (st && sqlite3_step(st) == SQLITE_ROW) {
		did = sqlite3_column_int64(st, 0);
		oid = sqlite3_column_int64(st, 1);
		used = sqlite3_column_int64(st, 2);
		created = sqlite3_column_int64(st, 3);
		data = json_loads((const char *)sqlite3_column_text(st, 4), 0,
				  NULL);
	}
	if (st)
		sqlite3_reset(st);
	if (!did)
		return respond_error(ctx->req, 404, "link_invalid",
				     "this link is not valid for your account");
	if (used || created + LINK_TTL < now) {
		json_decref(data);
		return respond_error(ctx->req, 410, "link_used",
				     "this link was already used or has "
				     "expired; your notifications are listed "
				     "in the portal");
	}
	if (db_begin(db) != ATR_OK ||
	    db_done(db_stmt(db,
			    "UPDATE notify_deliveries SET link_used_at = ? "
			    "WHERE id = ? AND link_used_at IS NULL",
			    "ii", now, did)) != ATR_OK ||
	    sqlite3_changes(db_handle(db)) != 1 ||
	    db_done(db_stmt(db,
			    "UPDATE outbox SET read_at = COALESCE(read_at, ?) "
			    "WHERE id = ?",
			    "ii", now, oid)) != ATR_OK ||
	    db_commit(db) != ATR_OK) {
		db_rollback(db);
		json_decref(data);
		return respond_error(ctx->req, 410, "link_used",
				     "this link was already used");
	}
	link = json_string_value(json_object_get(data, "link"));
	out = json_pack("{s:I,s:s?}", "id", (json_int_t)oid, "link",
			notify_link_ok(link) ? link : NULL);
	json_decref(data);
	return respond_json(ctx->req, 200, out);
}

/* ---- the delivery log (staff, admin) --------------------------------- */

static const char *const statuses[] = {
    "pending", "deferred", "sending", "sent",
    "failed",  "cancelled", "suppressed", NULL};

static int h_admin_list(struct atr_ctx *ctx)
{
	const char *status = request_query(ctx->req, "status");
	const char *uid = request_query(ctx->req, "user_id");
	long long limit = parse_count(request_query(ctx->req, "limit"), 100,
				      500);
	long long user_id = uid ? parse_count(uid, 0, (long long)9e18) : 0;
	struct db *db = ctx_db(ctx);
	json_t *list;
	sqlite3_stmt *st;
	int ok = !status;

	for (int i = 0; status && statuses[i]; i++)
		if (!strcmp(status, statuses[i]))
			ok = 1;
	if (!ok)
		return respond_error(ctx->req, 400, "invalid_status",
				     "status must be one of pending, deferred, "
				     "sending, sent, failed, cancelled, "
				     "suppressed");
	if (limit < 0 || user_id < 0)
		return respond_error(ctx->req, 400, "invalid_query",
				     "limit and user_id must be whole numbers "
				     "from 1");
	ctx->audit_patient = user_id;
	list = json_array();
	st = db_stmt(db,
		     "SELECT id, outbox_id, user_id, kind, channel, status, "
		     "attempts, last_error, created_at, sent_at, "
		     "next_attempt_at FROM notify_deliveries WHERE (? IS NULL "
		     "OR status = ?) AND (? = 0 OR user_id = ?) ORDER BY id "
		     "DESC LIMIT ?",
		     "ssiii", status, status, user_id, user_id, limit);
	if (!st || !list) {
		json_decref(list);
		return respond_error(ctx->req, 500, "internal_error",
				     "deliveries cannot be read");
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *oid = sqlite3_column_type(st, 1) == SQLITE_NULL
				  ? json_null()
				  : json_integer(sqlite3_column_int64(st, 1));
		json_array_append_new(
		    list,
		    json_pack("{s:I,s:o,s:I,s:o,s:o,s:o,s:I,s:o,s:o,s:o,s:o}",
			      "id", (json_int_t)sqlite3_column_int64(st, 0),
			      "outbox_id", oid, "user_id",
			      (json_int_t)sqlite3_column_int64(st, 2), "kind",
			      text_json(st, 3), "channel", text_json(st, 4),
			      "status", text_json(st, 5), "attempts",
			      (json_int_t)sqlite3_column_int64(st, 6),
			      "last_error", text_json(st, 7), "created_at",
			      time_json(st, 8), "sent_at", time_json(st, 9),
			      "next_attempt_at", time_json(st, 10)));
	}
	sqlite3_reset(st);
	return respond_json(ctx->req, 200,
			    json_pack("{s:o}", "deliveries", list));
}

static const struct core_route routes[] = {
    {"GET", "/api/notifications", h_list, ATR_ROLES_ANY_USER, 0,
     "my in-portal notifications and the unread count"},
    {"POST", "/api/notifications/:id/read", h_read, ATR_ROLES_ANY_USER, 0,
     "mark one of my notifications read"},
    {"POST", "/api/notifications/open", h_open, ATR_ROLES_ANY_USER, 0,
     "open the single-use link of a notification sent to me"},
    {"GET", "/api/notifications/preferences", notify_h_prefs_get,
     ATR_ROLES_ANY_USER, 0, "my notification channels per kind"},
    {"PUT", "/api/notifications/preferences", notify_h_prefs_put,
     ATR_ROLES_ANY_USER, 0, "choose my notification channels per kind"},
    {"POST", "/api/notifications/email", notify_h_email, ATR_ROLES_ANY_USER,
     0, "send a confirmation link to a new email address"},
    {"POST", "/api/notifications/email/verify", notify_h_email_verify,
     ATR_ROLES_ANY_USER, 0, "confirm my email address"},
    {"GET", "/api/admin/notifications", h_admin_list,
     ATR_ROLE_STAFF | ATR_ROLE_ADMIN, ATR_ROUTE_PHI,
     "delivery status of notifications (no message text)"},
    {NULL, NULL, NULL, 0, 0, NULL},
};

int notify_routes_register(struct router *r, char *err, size_t errlen)
{
	return core_routes_add(r, routes, err, errlen);
}

/* ---- start and stop -------------------------------------------------- */

/* The [notify] settings that must hold before anything is sent. */
static int check_config(const struct config *cfg, char *err, size_t errlen)
{
	if (notify_hhmm(cfg->quiet_start) < 0 ||
	    notify_hhmm(cfg->quiet_end) < 0) {
		snprintf(err, errlen,
			 "[notify] quiet_start and quiet_end must be HH:MM");
		return -1;
	}
	if (cfg->notify_retry_max < cfg->notify_retry_base) {
		snprintf(err, errlen,
			 "[notify] retry_max must not be below retry_base");
		return -1;
	}
	if (cfg->notify_email &&
	    (!*cfg->smtp_url || !notify_address_ok(cfg->smtp_from))) {
		snprintf(err, errlen,
			 "[notify] email = on needs smtp_url and an "
			 "smtp_from address");
		return -1;
	}
	if (cfg->notify_webhook &&
	    (!*cfg->webhook_url || strlen(cfg->webhook_secret) < 16)) {
		snprintf(err, errlen,
			 "[notify] webhook = on needs webhook_url and a "
			 "webhook_secret of at least 16 characters");
		return -1;
	}
	return 0;
}

int notify_start(const struct config *cfg)
{
	char err[1400];

	if (check_config(cfg, err, sizeof(err)) ||
	    notify_prefs_init(cfg->notify_defaults, err, sizeof(err)) ||
	    notify_templates_load(cfg->themes_dir, cfg->theme, err,
				  sizeof(err))) {
		log_comp(LOG_ERROR, "notify", "%s", err);
		fprintf(stderr, "atriumd: %s\n", err);
		goto fail;
	}
	/* libcurl is loaded only for the channels that need it. */
	if (cfg->notify_email || cfg->notify_webhook) {
		if (curl_dyn_load(err, sizeof(err))) {
			log_comp(LOG_ERROR, "notify", "%s", err);
			fprintf(stderr, "atriumd: %s\n", err);
			goto fail;
		}
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			log_comp(LOG_ERROR, "notify", "libcurl cannot start");
			goto fail;
		}
	}
	if (notify_worker_start(cfg)) {
		curl_global_cleanup();
		log_comp(LOG_ERROR, "notify",
			 "the delivery thread cannot start");
		goto fail;
	}
	started = 1;
	return 0;
fail:
	notify_templates_free();
	notify_prefs_free();
	return -1;
}

void notify_stop(void)
{
	if (!started)
		return;
	notify_worker_stop();
	curl_global_cleanup();
	notify_templates_free();
	notify_prefs_free();
	started = 0;
}
