/*
 * notify_prefs.c - which channels a patient wants per kind of notification,
 * the practice defaults behind them ([notify] defaults), and the routes that
 * read and change them, including confirming an email address before any
 * notification is sent to it.
 *
 * Portal is part of every choice: the in-portal list is the record of every
 * notification, so a patient opts out of email or webhook, never of the
 * portal (a PUT without it gets it back). Not the delivery itself
 * (notify_worker.c) nor the message text (notify_template.c).
 */
#include "notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "audit.h"
#include "crypto.h"
#include "db.h"
#include "log.h"
#include "request.h"

#define VERIFY_TTL (24 * 3600)
#define VERIFY_PER_HOUR 5

struct pref_default {
	char kind[65]; /* or "*" */
	unsigned bits;
};

static struct pref_default *defs;
static size_t ndefs;

/* ---- channels ------------------------------------------------------- */

static const char *const channel_names[NOTIFY_NCHANNELS] = {
    "portal", "email", "webhook"};

const char *notify_channel_name(int ch)
{
	return ch >= 0 && ch < NOTIFY_NCHANNELS ? channel_names[ch] : NULL;
}

int notify_channel_parse(const char *s)
{
	for (int i = 0; s && i < NOTIFY_NCHANNELS; i++)
		if (!strcmp(s, channel_names[i]))
			return i;
	return -1;
}

int notify_channel_on(int ch)
{
	switch (ch) {
	case NOTIFY_PORTAL:
		return g_cfg->notify_portal;
	case NOTIFY_EMAIL:
		return g_cfg->notify_email;
	case NOTIFY_WEBHOOK:
		return g_cfg->notify_webhook;
	default:
		return 0;
	}
}

static unsigned channels_on(void)
{
	unsigned m = 0;
	for (int i = 0; i < NOTIFY_NCHANNELS; i++)
		if (notify_channel_on(i))
			m |= NOTIFY_BIT(i);
	return m;
}

/* "portal,email" or "portal+email" -> bits; -1 on an unknown name. */
static int parse_bits(const char *s, char sep)
{
	unsigned bits = 0;
	char name[16];

	while (*s) {
		const char *e = strchr(s, sep);
		size_t n = e ? (size_t)(e - s) : strlen(s);
		int ch;
		if (n == 0 || n >= sizeof(name))
			return -1;
		memcpy(name, s, n);
		name[n] = '\0';
		if ((ch = notify_channel_parse(name)) < 0)
			return -1;
		bits |= NOTIFY_BIT(ch);
		s += n + (e ? 1 : 0);
		if (e && !*s)
			return -1;
	}
	return (int)bits;
}

/* ---- defaults ------------------------------------------------------- */

int notify_prefs_init(const char *defaults, char *err, size_t errlen)
{
	char *copy = strdup(defaults ? defaults : ""), *save = NULL, *item;

	notify_prefs_free();
	if (!copy)
		return -1;
	for (item = strtok_r(copy, ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		char *colon, *k, *v;
		int bits;
		struct pref_default *n;
		while (*item == ' ')
			item++;
		colon = strchr(item, ':');
		if (!colon)
			goto bad;
		*colon = '\0';
		k = item;
		v = colon + 1;
		for (char *e = colon; e > k && e[-1] == ' ';)
			*--e = '\0';
		while (*v == ' ')
			v++;
		for (char *e = v + strlen(v); e > v && e[-1] == ' ';)
			*--e = '\0';
		if (strcmp(k, "*") && (strlen(k) > 64 || !*k ||
				       strspn(k, "abcdefghijklmnopqrstuvwxyz"
						 "0123456789_") != strlen(k)))
			goto bad;
		if ((bits = parse_bits(v, '+')) < 0)
			goto bad;
		n = realloc(defs, (ndefs + 1) * sizeof(*n));
		if (!n) {
			snprintf(err, errlen, "out of memory");
			free(copy);
			return -1;
		}
		defs = n;
		snprintf(defs[ndefs].kind, sizeof(defs[ndefs].kind), "%s", k);
		defs[ndefs].bits = (unsigned)bits;
		ndefs++;
	}
	free(copy);
	return 0;
bad:
	snprintf(err, errlen,
		 "[notify] defaults: '%s' is not kind:channel+channel "
		 "(channels portal, email, webhook)",
		 item);
	free(copy);
	notify_prefs_free();
	return -1;
}

void notify_prefs_free(void)
{
	free(defs);
	defs = NULL;
	ndefs = 0;
}

unsigned notify_prefs_default(const char *kind)
{
	unsigned bits = NOTIFY_BIT(NOTIFY_PORTAL);
	int found = 0;

	for (size_t i = 0; i < ndefs; i++)
		if (!strcmp(defs[i].kind, kind)) {
			bits = defs[i].bits;
			found = 1;
		}
	for (size_t i = 0; !found && i < ndefs; i++)
		if (!strcmp(defs[i].kind, "*"))
			bits = defs[i].bits;
	return (bits | NOTIFY_BIT(NOTIFY_PORTAL)) & channels_on();
}

unsigned notify_prefs_channels(struct db *db, long long user_id,
			       const char *kind)
{
	sqlite3_stmt *st = db_stmt(db,
				   "SELECT channels FROM notify_preferences "
				   "WHERE user_id = ? AND kind = ?",
				   "is", user_id, kind);
	int bits = -1;

	if (st && sqlite3_step(st) == SQLITE_ROW)
		bits = parse_bits((const char *)sqlite3_column_text(st, 0),
				  ',');
	if (st)
		sqlite3_reset(st);
	if (bits < 0)
		return notify_prefs_default(kind);
	return ((unsigned)bits | NOTIFY_BIT(NOTIFY_PORTAL)) & channels_on();
}

/* ---- the preferences document --------------------------------------- */

/* Every kind a patient may choose for, as a new array. */
static json_t *all_kinds(void)
{
	json_t *kinds = notify_template_kinds();

	for (size_t i = 0; kinds && i < ndefs; i++) {
		size_t j;
		json_t *v;
		int seen = 0;
		if (!strcmp(defs[i].kind, "*") ||
		    !strcmp(defs[i].kind, "email_verification"))
			continue;
		json_array_foreach(kinds, j, v)
		{
			if (!strcmp(json_string_value(v), defs[i].kind))
				seen = 1;
		}
		if (!seen)
			json_array_append_new(kinds,
					      json_string(defs[i].kind));
	}
	return kinds;
}

static int kind_known(json_t *kinds, const char *kind)
{
	size_t i;
	json_t *v;
	json_array_foreach(kinds, i, v)
	{
		if (!strcmp(json_string_value(v), kind))
			return 1;
	}
	return 0;
}

static json_t *bits_json(unsigned bits)
{
	json_t *a = json_array();
	for (int i = 0; a && i < NOTIFY_NCHANNELS; i++)
		if (bits & NOTIFY_BIT(i))
			json_array_append_new(a, json_string(channel_names[i]));
	return a;
}

/* {"preferences","channels","contacts"} for the caller; NULL on error. */
static json_t *prefs_doc(struct atr_ctx *ctx)
{
	struct db *db = ctx_db(ctx);
	json_t *kinds = all_kinds(), *prefs = json_object(), *out = NULL;
	json_t *email = NULL, *v;
	sqlite3_stmt *st;
	size_t i;

	if (!kinds || !prefs)
		goto fail;
	json_array_foreach(kinds, i, v)
	{
		const char *k = json_string_value(v);
		json_object_set_new(prefs, k,
				    bits_json(notify_prefs_channels(
					db, ctx->user_id, k)));
	}
	st = db_stmt(db, "SELECT email, email_verified FROM users WHERE id = ?",
		     "i", ctx->user_id);
	if (!st)
		goto fail;
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *a = (const char *)sqlite3_column_text(st, 0);
		email = json_pack("{s:s?,s:b,s:n}", "address", a, "verified",
				  a && sqlite3_column_int(st, 1), "pending");
	}
	sqlite3_reset(st);
	if (!email)
		goto fail;
	st = db_stmt(db,
		     "SELECT address FROM notify_email_tokens WHERE user_id = "
		     "? AND used_at IS NULL AND expires_at > ? ORDER BY id "
		     "DESC LIMIT 1",
		     "ii", ctx->user_id, (long long)time(NULL));
	if (st && sqlite3_step(st) == SQLITE_ROW)
		json_object_set_new(
		    email, "pending",
		    json_string((const char *)sqlite3_column_text(st, 0)));
	if (st)
		sqlite3_reset(st);
	out = json_pack("{s:o,s:o,s:{s:o}}", "preferences", prefs, "channels",
			bits_json(channels_on()), "contacts", "email", email);
	prefs = email = NULL;
fail:
	json_decref(kinds);
	json_decref(prefs);
	json_decref(email);
	return out;
}

static int respond_prefs(struct atr_ctx *ctx, int status)
{
	json_t *doc = prefs_doc(ctx);
	if (!doc)
		return respond_error(ctx->req, 500, "internal_error",
				     "preferences cannot be read");
	return respond_json(ctx->req, status, doc);
}

int notify_h_prefs_get(struct atr_ctx *ctx)
{
	return respond_prefs(ctx, 200);
}

static const struct atr_field prefs_fields[] = {
    {"preferences", ATR_F_OBJECT, 1, 0},
    {NULL, 0, 0, 0},
};

int notify_h_prefs_put(struct atr_ctx *ctx)
{
	json_t *body = atr_host_api.req_json(ctx, prefs_fields);
	json_t *prefs, *kinds, *v;
	const char *k;
	struct db *db = ctx_db(ctx);
	unsigned on = channels_on();
	int rc = ATR_OK;

	if (!body)
		return ATR_ERESPONDED;
	prefs = json_object_get(body, "preferences");
	kinds = all_kinds();
	if (!kinds)
		return respond_error(ctx->req, 500, "internal_error",
				     "preferences cannot be saved");
	/* Check everything before writing anything. */
	json_object_foreach(prefs, k, v)
	{
		size_t i;
		json_t *c;
		if (!kind_known(kinds, k)) {
			json_decref(kinds);
			return respond_error(ctx->req, 400, "unknown_kind",
					     "unknown notification kind '%.64s'",
					     k);
		}
		if (!json_is_array(v)) {
			json_decref(kinds);
			return respond_error(ctx->req, 400, "invalid_field",
					     "preferences.%.64s must be a list "
					     "of channels",
					     k);
		}
		json_array_foreach(v, i, c)
		{
			int ch = notify_channel_parse(json_string_value(c));
			if (ch < 0 || !(on & NOTIFY_BIT(ch))) {
				json_decref(kinds);
				return respond_error(
				    ctx->req, 400,
				    ch < 0 ? "unknown_channel" : "channel_off",
				    ch < 0 ? "unknown channel in "
					     "preferences.%.64s"
					   : "a channel in preferences.%.64s "
					     "is switched off",
				    k);
			}
		}
	}
	json_decref(kinds);
	if (db_begin(db) != ATR_OK)
		return respond_error(ctx->req, 503, "unavailable",
				     "preferences cannot be saved now");
	json_object_foreach(prefs, k, v)
	{
		char list[64] = "";
		unsigned bits = NOTIFY_BIT(NOTIFY_PORTAL);
		size_t i;
		json_t *c;
		json_array_foreach(v, i, c)
		{
			bits |= NOTIFY_BIT(
			    notify_channel_parse(json_string_value(c)));
		}
		for (int ch = 0; ch < NOTIFY_NCHANNELS; ch++)
			if (bits & NOTIFY_BIT(ch))
				snprintf(list + strlen(list),
					 sizeof(list) - strlen(list), "%s%s",
					 *list ? "," : "", channel_names[ch]);
		rc = db_done(db_stmt(db,
				     "INSERT INTO notify_preferences (user_id, "
				     "kind, channels, updated_at) VALUES (?, "
				     "?, ?, ?) ON CONFLICT (user_id, kind) DO "
				     "UPDATE SET channels = excluded.channels, "
				     "updated_at = excluded.updated_at",
				     "issi", ctx->user_id, k, list,
				     (long long)time(NULL)));
		if (rc != ATR_OK)
			break;
	}
	if (rc != ATR_OK || db_commit(db) != ATR_OK) {
		db_rollback(db);
		return respond_error(ctx->req, 503, "unavailable",
				     "preferences cannot be saved now");
	}
	audit_ctx(ctx, "notify.preferences", 0, "user", NULL, "ok");
	return respond_prefs(ctx, 200);
}

/* ---- confirming an email address ------------------------------------ */

static const struct atr_field email_fields[] = {
    {"address", ATR_F_STRING, 1, NOTIFY_ADDRESS_MAX},
    {NULL, 0, 0, 0},
};

/* The link a verification message carries, malloc'd. */
static char *verify_link(const char *token)
{
	const char *base = g_cfg->base_url ? g_cfg->base_url : "";
	size_t n = strlen(base);
	char *out;

	while (n && base[n - 1] == '/')
		n--;
	if (asprintf(&out, "%.*s/#/notifications/verify/%s", (int)n, base,
		     token) < 0)
		return NULL;
	return out;
}

int notify_h_email(struct atr_ctx *ctx)
{
	json_t *body = atr_host_api.req_json(ctx, email_fields);
	struct db *db = ctx_db(ctx);
	const char *addr;
	char token[TOKEN_STR_LEN], hash[65], key[TOKEN_STR_LEN], when[32];
	char *link = NULL, *title = NULL, *text = NULL;
	time_t now = time(NULL);
	sqlite3_stmt *st;
	long long recent = VERIFY_PER_HOUR;
	int rc;

	if (!body)
		return ATR_ERESPONDED;
	addr = json_string_value(json_object_get(body, "address"));
	if (!g_cfg->notify_email)
		return respond_error(ctx->req, 409, "email_off",
				     "email notifications are switched off");
	if (!notify_address_ok(addr))
		return respond_error(ctx->req, 400, "invalid_address",
				     "this is not an email address we can "
				     "use");
	st = db_stmt(db,
		     "SELECT COUNT(*) FROM notify_email_tokens WHERE user_id "
		     "= ? AND created_at > ?",
		     "ii", ctx->user_id, (long long)now - 3600);
	if (st && sqlite3_step(st) == SQLITE_ROW)
		recent = sqlite3_column_int64(st, 0);
	if (st)
		sqlite3_reset(st);
	if (recent >= VERIFY_PER_HOUR) {
		respond_header(ctx->req, "Retry-After", "3600");
		return respond_error(ctx->req, 429, "too_many_requests",
				     "too many confirmation emails; try "
				     "again later");
	}
	token_new(token);
	token_new(key);
	sha256_hex(token, strlen(token), hash);
	link = verify_link(token);
	if (!link || notify_render("email_verification", "en",
				   g_cfg->practice_name, link, &title,
				   &text)) {
		rc = ATR_ENOMEM;
		goto fail;
	}
	if ((rc = db_begin(db)) != ATR_OK)
		goto fail;
	rc = db_done(db_stmt(db,
			     "UPDATE notify_email_tokens SET used_at = ? "
			     "WHERE user_id = ? AND used_at IS NULL",
			     "ii", (long long)now, ctx->user_id));
	if (rc == ATR_OK)
		rc = db_done(db_stmt(
		    db,
		    "INSERT INTO notify_email_tokens (user_id, address, "
		    "token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, "
		    "?)",
		    "issii", ctx->user_id, addr, hash, (long long)now,
		    (long long)now + VERIFY_TTL));
	if (rc == ATR_OK)
		rc = db_done(db_stmt(
		    db,
		    "INSERT INTO notify_deliveries (outbox_id, user_id, kind, "
		    "channel, status, next_attempt_at, idempotency_key, "
		    "address, title, body, link, prepared, created_at) VALUES "
		    "(NULL, ?, 'email_verification', 'email', 'pending', ?, "
		    "?, ?, ?, ?, ?, 1, ?)",
		    "iisssssi", ctx->user_id, (long long)now, key, addr, title,
		    text, link, (long long)now));
	if (rc != ATR_OK || (rc = db_commit(db)) != ATR_OK) {
		db_rollback(db);
		goto fail;
	}
	free(link);
	free(title);
	free(text);
	audit_ctx(ctx, "notify.email_requested", 0, "user", NULL, "ok");
	time_format_rfc3339(now + VERIFY_TTL, when);
	return respond_json(ctx->req, 202,
			    json_pack("{s:s,s:s}", "address", addr,
				      "expires_at", when));
fail:
	free(link);
	free(title);
	free(text);
	return respond_error(ctx->req, 503, "unavailable",
			     "the confirmation email cannot be sent now");
}

static const struct atr_field verify_fields[] = {
    {"token", ATR_F_STRING, 1, 128},
    {NULL, 0, 0, 0},
};

int notify_h_email_verify(struct atr_ctx *ctx)
{
	json_t *body = atr_host_api.req_json(ctx, verify_fields);
	struct db *db = ctx_db(ctx);
	const char *token;
	char hash[65], *addr = NULL;
	long long now = (long long)time(NULL);
	sqlite3_stmt *st;
	int rc;

	if (!body)
		return ATR_ERESPONDED;
	token = json_string_value(json_object_get(body, "token"));
	sha256_hex(token, strlen(token), hash);
	if (db_begin(db) != ATR_OK)
		return respond_error(ctx->req, 503, "unavailable",
				     "the address cannot be confirmed now");
	st = db_stmt(db,
		     "SELECT address FROM notify_email_tokens WHERE "
		     "token_hash = ? AND user_id = ? AND used_at IS NULL AND "
		     "expires_at > ?",
		     "sii", hash, ctx->user_id, now);
	if (st && sqlite3_step(st) == SQLITE_ROW)
		addr = strdup((const char *)sqlite3_column_text(st, 0));
	if (st)
		sqlite3_reset(st);
	if (!addr) {
		db_rollback(db);
		audit_ctx(ctx, "notify.email_verified", 0, "user", NULL,
			  "denied");
		return respond_error(ctx->req, 400, "invalid_token",
				     "this confirmation link is not valid or "
				     "has expired");
	}
	rc = db_done(db_stmt(db,
			     "UPDATE notify_email_tokens SET used_at = ? "
			     "WHERE user_id = ? AND used_at IS NULL",
			     "ii", now, ctx->user_id));
	if (rc == ATR_OK)
		rc = db_done(db_stmt(
		    db,
		    "UPDATE users SET email = ?, email_verified = 1, "
		    "updated_at = strftime('%Y-%m-%dT%H:%M:%SZ','now') WHERE "
		    "id = ?",
		    "si", addr, ctx->user_id));
	free(addr);
	if (rc != ATR_OK || db_commit(db) != ATR_OK) {
		db_rollback(db);
		return respond_error(ctx->req, 503, "unavailable",
				     "the address cannot be confirmed now");
	}
	audit_ctx(ctx, "notify.email_verified", 0, "user", NULL, "ok");
	return respond_prefs(ctx, 200);
}
