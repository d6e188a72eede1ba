/*
 * notify_worker.c - the delivery thread: it turns each due outbox row into
 * one delivery per channel (fan-out), prepares each delivery's text once
 * (template, then the notification.before_send workflow event), and sends
 * the external ones with quiet hours, a per-recipient rate limit, retries
 * with backoff and a lease that survives a crash.
 *
 * Only this thread sends, so no request ever waits on SMTP or a webhook.
 * Every state change is a conditional UPDATE inside BEGIN IMMEDIATE, so a
 * cancellation (outbox_cancel, on a request thread) and a delivery cannot
 * both win. The state machine and what it guarantees are described in
 * docs/notifications.md. Not the routes (notify.c) nor the transports
 * (notify_smtp.c, notify_webhook.c).
 */
#include "notify.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "arena.h"
#include "crypto.h"
#include "db.h"
#include "log.h"
#include "request.h"

#define TICK_MS 500
#define BATCH 50
#define LINK_PATH "/#/notifications/"

static pthread_t thread;
static int running;
static atomic_int stopping;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static const struct config *cfg;
static int quiet_start, quiet_end;

/* One delivery row with what its outbox row and user say. */
struct dl {
	long long id, outbox_id, user_id, attempts, created_at;
	int channel, prepared;
	char *kind, *status, *key, *address, *title, *body, *link;
	char *ostatus, *ref, *data, *user_email;
	int email_verified;
};

int notify_stopping(void)
{
	return atomic_load(&stopping);
}

static char *col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? strdup((const char *)t) : NULL;
}

static void dl_release(struct dl *d)
{
	free(d->kind), free(d->status), free(d->key), free(d->address);
	free(d->title), free(d->body), free(d->link), free(d->ostatus);
	free(d->ref), free(d->data), free(d->user_email);
	memset(d, 0, sizeof(*d));
}

/* ---- outbox status ----------------------------------------------------- */

/* Once no delivery of the outbox row is open, the row takes its final
 * status. Inside the caller's transaction. */
static int finalize_outbox(struct db *db, long long outbox_id)
{
	if (!outbox_id)
		return ATR_OK;
	return db_done(db_stmt(
	    db,
	    "UPDATE outbox SET status = CASE "
	    "WHEN EXISTS (SELECT 1 FROM notify_deliveries WHERE outbox_id = ?1 "
	    "AND status = 'sent') THEN 'sent' "
	    "WHEN EXISTS (SELECT 1 FROM notify_deliveries WHERE outbox_id = ?1 "
	    "AND status = 'failed') THEN 'failed' ELSE 'suppressed' END "
	    "WHERE id = ?1 AND status = 'queued' AND fanout_at IS NOT NULL "
	    "AND NOT EXISTS (SELECT 1 FROM notify_deliveries WHERE outbox_id "
	    "= ?1 AND status IN ('pending','deferred','sending'))",
	    "i", outbox_id));
}

/* ---- fan-out ------------------------------------------------------------ */

static int fanout_one(struct db *db, long long id)
{
	sqlite3_stmt *st;
	long long user_id = 0, now = (long long)time(NULL);
	char *kind = NULL, *okey = NULL, *email = NULL;
	int verified = 0, rc = ATR_ERR;
	unsigned bits;

	if (db_begin(db) != ATR_OK)
		return ATR_ERR;
	st = db_stmt(db,
		     "SELECT o.user_id, o.kind, o.idempotency_key, u.email, "
		     "u.email_verified FROM outbox o JOIN users u ON u.id = "
		     "o.user_id WHERE o.id = ? AND o.status = 'queued' AND "
		     "o.fanout_at IS NULL",
		     "i", id);
	if (!st)
		goto fail;
	if (sqlite3_step(st) == SQLITE_ROW) {
		user_id = sqlite3_column_int64(st, 0);
		kind = col_dup(st, 1);
		okey = col_dup(st, 2);
		email = col_dup(st, 3);
		verified = sqlite3_column_int(st, 4);
	}
	sqlite3_reset(st);
	if (!user_id || !kind || !okey) {
		rc = ATR_OK; /* cancelled or taken meanwhile */
		goto fail;
	}
	bits = notify_prefs_channels(db, user_id, kind);
	for (int ch = 0; ch < NOTIFY_NCHANNELS; ch++) {
		const char *why = NULL;
		char key[128];
		if (!(bits & NOTIFY_BIT(ch)))
			continue;
		if (ch == NOTIFY_EMAIL &&
		    !(email && verified && notify_address_ok(email)))
			why = "no verified email address";
		snprintf(key, sizeof(key), "%s.%s", okey,
			 notify_channel_name(ch));
		rc = db_done(db_stmt(
		    db,
		    "INSERT INTO notify_deliveries (outbox_id, user_id, kind, "
		    "channel, status, next_attempt_at, idempotency_key, "
		    "last_error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		    "iisssissi", id, user_id, kind, notify_channel_name(ch),
		    why ? "suppressed" : "pending", now, key, why, now));
		if (rc != ATR_OK)
			goto fail;
	}
	rc = db_done(db_stmt(db, "UPDATE outbox SET fanout_at = ? WHERE id = ?",
			     "ii", now, id));
	if (rc == ATR_OK)
		rc = finalize_outbox(db, id);
	if (rc == ATR_OK)
		rc = db_commit(db);
	if (rc != ATR_OK)
		goto fail;
	free(kind), free(okey), free(email);
	return ATR_OK;
fail:
	db_rollback(db);
	free(kind), free(okey), free(email);
	return rc;
}

static void fanout_due(struct db *db)
{
	long long ids[BATCH];
	int n = 0;
	sqlite3_stmt *st = db_stmt(db,
				   "SELECT id FROM outbox WHERE status = "
				   "'queued' AND fanout_at IS NULL AND "
				   "not_before <= ? ORDER BY not_before, id "
				   "LIMIT ?",
				   "iI", (long long)time(NULL), BATCH);
	if (!st)
		return;
	while (n < BATCH && sqlite3_step(st) == SQLITE_ROW)
		ids[n++] = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	for (int i = 0; i < n && !notify_stopping(); i++)
		if (fanout_one(db, ids[i]) != ATR_OK)
			log_comp(LOG_WARN, "notify",
				 "outbox %lld: fan-out failed; will retry",
				 ids[i]);
}

/* ---- loading and simple transitions ------------------------------------ */

static int dl_load(struct db *db, long long id, struct dl *d)
{
	sqlite3_stmt *st = db_stmt(
	    db,
	    "SELECT d.outbox_id, d.user_id, d.kind, d.channel, d.status, "
	    "d.attempts, d.idempotency_key, d.address, d.title, d.body, "
	    "d.link, d.prepared, d.created_at, o.status, o.ref, o.data, "
	    "u.email, u.email_verified FROM notify_deliveries d LEFT JOIN "
	    "outbox o ON o.id = d.outbox_id JOIN users u ON u.id = d.user_id "
	    "WHERE d.id = ?",
	    "i", id);
	int rc = ATR_ENOTFOUND;

	memset(d, 0, sizeof(*d));
	if (!st)
		return ATR_ERR;
	if (sqlite3_step(st) == SQLITE_ROW) {
		d->id = id;
		d->outbox_id = sqlite3_column_int64(st, 0);
		d->user_id = sqlite3_column_int64(st, 1);
		d->kind = col_dup(st, 2);
		d->channel = notify_channel_parse(
		    (const char *)sqlite3_column_text(st, 3));
		d->status = col_dup(st, 4);
		d->attempts = sqlite3_column_int64(st, 5);
		d->key = col_dup(st, 6);
		d->address = col_dup(st, 7);
		d->title = col_dup(st, 8);
		d->body = col_dup(st, 9);
		d->link = col_dup(st, 10);
		d->prepared = sqlite3_column_int(st, 11);
		d->created_at = sqlite3_column_int64(st, 12);
		d->ostatus = col_dup(st, 13);
		d->ref = col_dup(st, 14);
		d->data = col_dup(st, 15);
		d->user_email = col_dup(st, 16);
		d->email_verified = sqlite3_column_int(st, 17);
		rc = d->kind && d->status && d->key && d->channel >= 0
			 ? ATR_OK
			 : ATR_ERR;
	}
	sqlite3_reset(st);
	return rc;
}

/* Move d from its loaded status to `status` (final or deferred) with a
 * reason, and settle the outbox row. Returns 1 when the change was made. */
static int transition(struct db *db, struct dl *d, const char *status,
		      const char *why, long long next_at)
{
	int final = strcmp(status, "deferred") && strcmp(status, "pending");
	int rc;

	if (db_begin(db) != ATR_OK)
		return 0;
	rc = db_done(db_stmt(
	    db,
	    "UPDATE notify_deliveries SET status = ?, last_error = ?, "
	    "next_attempt_at = CASE WHEN ? > 0 THEN ? ELSE next_attempt_at "
	    "END, lease_until = NULL, sent_at = CASE WHEN ? = 'sent' THEN ? "
	    "ELSE sent_at END, title = CASE WHEN ? AND channel != 'portal' "
	    "THEN NULL ELSE title END, body = CASE WHEN ? AND channel != "
	    "'portal' THEN NULL ELSE body END, link = CASE WHEN ? AND channel "
	    "!= 'portal' THEN NULL ELSE link END WHERE id = ? AND status = ?",
	    "ssiisiIIIis", status, why, next_at, next_at, status,
	    (long long)time(NULL), final, final, final, d->id, d->status));
	if (rc != ATR_OK || sqlite3_changes(db_handle(db)) != 1) {
		db_rollback(db);
		return 0;
	}
	if (final && finalize_outbox(db, d->outbox_id) != ATR_OK) {
		db_rollback(db);
		return 0;
	}
	if (db_commit(db) != ATR_OK) {
		db_rollback(db);
		return 0;
	}
	free(d->status);
	d->status = strdup(status);
	return 1;
}

static void emit_failed(struct dl *d, const char *why)
{
	struct arena a;
	struct atr_ctx ctx;
	json_t *p = json_pack("{s:o,s:I,s:s,s:s,s:s,s:I}", "id",
			      d->outbox_id ? json_integer(d->outbox_id)
					   : json_null(),
			      "user_id", (json_int_t)d->user_id, "kind", d->kind,
			      "channel", notify_channel_name(d->channel),
			      "error", why, "attempts",
			      (json_int_t)d->attempts);
	if (!p)
		return;
	arena_init(&a);
	ctx_init(&ctx, NULL, &a, CTX_JOB);
	events_emit(&ctx, "notification.failed", p, NULL);
	ctx_release(&ctx);
	arena_release(&a);
	json_decref(p);
}

/* ---- preparing the text ------------------------------------------------ */

/* What preparing one delivery builds; released with prep_release. */
struct prep {
	char *portal_title, *portal_body; /* may show the plugin's detail */
	char *ext_title, *ext_body;       /* template only */
	char *ext_link;   /* absolute link for email and webhook */
	const char *dlink; /* the plugin's same-origin link, or NULL */
	char hash[65];     /* of the single-use link token, when one was made */
	int have_token;
	char *title, *body; /* the result, cleaned */
	int channel;        /* the result */
};

static void prep_release(struct prep *p)
{
	free(p->portal_title), free(p->portal_body);
	free(p->ext_title), free(p->ext_body), free(p->ext_link);
	free(p->title), free(p->body);
	memset(p, 0, sizeof(*p));
}

/* base_url + path, malloc'd. */
static char *absolute(const char *path)
{
	const char *base = cfg->base_url ? cfg->base_url : "";
	size_t n = strlen(base);
	char *out;

	while (n && base[n - 1] == '/')
		n--;
	if (asprintf(&out, "%.*s%s", (int)n, base, path) < 0)
		return NULL;
	return out;
}

/* Both variants of the text from the templates and data (borrowed, must
 * outlive p). 0, or -1 when out of memory. */
static int prep_render(struct dl *d, json_t *data, struct prep *p)
{
	const char *lang = json_string_value(json_object_get(data, "lang"));
	const char *dtitle = json_string_value(json_object_get(data, "title"));
	const char *dbody = json_string_value(json_object_get(data, "body"));

	p->dlink = json_string_value(json_object_get(data, "link"));
	if (!notify_link_ok(p->dlink))
		p->dlink = NULL;
	if (p->dlink) {
		p->ext_link = absolute(p->dlink);
	} else {
		char token[TOKEN_STR_LEN];
		char path[sizeof(LINK_PATH) + TOKEN_STR_LEN];
		token_new(token);
		sha256_hex(token, strlen(token), p->hash);
		p->have_token = 1;
		snprintf(path, sizeof(path), "%s%s", LINK_PATH, token);
		p->ext_link = absolute(path);
	}
	if (!p->ext_link ||
	    notify_render(d->kind, lang, cfg->practice_name, p->ext_link,
			  &p->ext_title, &p->ext_body) ||
	    notify_render(d->kind, lang, cfg->practice_name,
			  p->dlink ? p->dlink : "", &p->portal_title,
			  &p->portal_body))
		return -1;
	/* In the portal the plugin's own words may be shown. */
	if (dtitle) {
		free(p->portal_title);
		p->portal_title = strdup(dtitle);
	}
	if (dbody) {
		free(p->portal_body);
		p->portal_body = strdup(dbody);
	}
	return p->portal_title && p->portal_body ? 0 : -1;
}

/* The amended string field `f` of payload if it differs from `was`, else
 * NULL. */
static const char *amended(json_t *payload, const char *f, const char *was)
{
	const char *v = json_string_value(json_object_get(payload, f));
	return v && strcmp(v, was) ? v : NULL;
}

/* Run notification.before_send and fill p->title, p->body, p->channel
 * (cleaned). 0 allowed, 1 denied (reason in why), -1 out of memory. */
static int prep_rule(struct dl *d, struct prep *p, char *why, size_t whylen)
{
	int ch = d->channel, nch, rc;
	const char *title = ch == NOTIFY_PORTAL ? p->portal_title : p->ext_title;
	const char *body = ch == NOTIFY_PORTAL ? p->portal_body : p->ext_body;
	const char *reason = NULL, *nt, *nb;
	json_t *payload;
	struct arena a;
	struct atr_ctx ctx;

	payload = json_pack("{s:o,s:I,s:s,s:s,s:s?,s:s,s:s}", "id",
			    d->outbox_id ? json_integer(d->outbox_id)
					 : json_null(),
			    "user_id", (json_int_t)d->user_id, "kind", d->kind,
			    "channel", notify_channel_name(ch), "ref", d->ref,
			    "title", title, "body", body);
	if (!payload)
		return -1;
	arena_init(&a);
	ctx_init(&ctx, NULL, &a, CTX_JOB);
	rc = events_emit(&ctx, "notification.before_send", payload, &reason);
	ctx_release(&ctx);
	if (rc == ATR_EDENIED) {
		snprintf(why, whylen, "suppressed by a workflow rule: %s",
			 reason ? reason : "");
		notify_clean_line(why);
		arena_release(&a);
		json_decref(payload);
		return 1;
	}
	arena_release(&a);
	nt = amended(payload, "title", title);
	nb = amended(payload, "body", body);
	nch = notify_channel_parse(
	    json_string_value(json_object_get(payload, "channel")));
	if (nch >= 0 && nch != ch && !notify_channel_on(nch)) {
		log_comp(LOG_WARN, "notify",
			 "delivery %lld: a workflow rule chose the %s channel, "
			 "which is switched off; ignored",
			 d->id, notify_channel_name(nch));
		nch = ch;
	}
	p->channel = nch < 0 ? ch : nch;
	/* Text a rule did not touch follows the channel it ends on: portal
	 * detail never leaves the portal by a channel change. */
	p->title = strdup(nt ? nt : p->channel == NOTIFY_PORTAL
					? p->portal_title
					: p->ext_title);
	p->body = notify_clean_text(nb ? nb : p->channel == NOTIFY_PORTAL
						  ? p->portal_body
						  : p->ext_body,
				    NOTIFY_TEXT_MAX);
	json_decref(payload);
	if (!p->title || !p->body)
		return -1;
	notify_clean_line(p->title);
	notify_truncate(p->title, NOTIFY_TITLE_MAX);
	return 0;
}

/* Does the outbox row of d already have a delivery on channel ch? (A
 * direct message has no siblings: say yes, it cannot move.) */
static int channel_taken(struct db *db, struct dl *d, int ch)
{
	sqlite3_stmt *st;
	int taken;

	if (!d->outbox_id)
		return 1;
	st = db_stmt(db,
		     "SELECT 1 FROM notify_deliveries WHERE outbox_id = ? AND "
		     "channel = ?",
		     "is", d->outbox_id, notify_channel_name(ch));
	taken = !st || sqlite3_step(st) == SQLITE_ROW;
	if (st)
		sqlite3_reset(st);
	return taken;
}

/* Store the prepared text. 1 stored, 0 not (moved to a channel that has
 * it: suppressed; or a database error: tried again next tick). */
static int prep_store(struct db *db, struct dl *d, struct prep *p)
{
	int ext = p->channel != NOTIFY_PORTAL;
	const char *link = ext ? p->ext_link : p->dlink;
	int rc;

	if (db_begin(db) != ATR_OK)
		return 0;
	if (p->channel != d->channel && channel_taken(db, d, p->channel)) {
		db_rollback(db);
		transition(db, d, "suppressed",
			   "a workflow rule moved it to a channel that "
			   "already has it",
			   0);
		return 0;
	}
	rc = db_done(db_stmt(
	    db,
	    "UPDATE notify_deliveries SET prepared = 1, channel = ?, title = "
	    "?, body = ?, link = ?, link_token_hash = ? WHERE id = ? AND "
	    "status = ? AND prepared = 0",
	    "sssssis", notify_channel_name(p->channel), p->title, p->body,
	    link, ext && p->have_token ? p->hash : NULL, d->id, d->status));
	if (rc != ATR_OK || sqlite3_changes(db_handle(db)) != 1 ||
	    db_commit(db) != ATR_OK) {
		db_rollback(db);
		return 0;
	}
	d->channel = p->channel;
	d->prepared = 1;
	free(d->title), free(d->body), free(d->link);
	d->title = p->title;
	d->body = p->body;
	p->title = p->body = NULL;
	d->link = link ? strdup(link) : NULL;
	return 1;
}

/* Render, run before_send, store. 1 when d is ready to deliver. */
static int prepare(struct db *db, struct dl *d)
{
	json_t *data = d->data ? json_loads(d->data, 0, NULL) : NULL;
	struct prep p = {0};
	char why[300];
	int ok = 0, rc;

	if (!json_is_object(data)) {
		json_decref(data);
		data = json_object();
	}
	if (!data || prep_render(d, data, &p))
		goto out;
	rc = prep_rule(d, &p, why, sizeof(why));
	if (rc == 1)
		transition(db, d, "suppressed", why, 0);
	else if (rc == 0)
		ok = prep_store(db, d, &p);
out:
	prep_release(&p);
	json_decref(data);
	return ok;
}

/* ---- sending ------------------------------------------------------------ */

/* Sent to user+channel in the last hour >= the limit: when the oldest of
 * them leaves the window; else 0. */
static time_t rate_until(struct db *db, struct dl *d, time_t now)
{
	sqlite3_stmt *st = db_stmt(
	    db,
	    "SELECT COUNT(*), MIN(sent_at) FROM notify_deliveries WHERE "
	    "user_id = ? AND channel = ? AND status = 'sent' AND sent_at > ? "
	    "AND outbox_id IS NOT NULL",
	    "isi", d->user_id, notify_channel_name(d->channel),
	    (long long)now - 3600);
	time_t until = 0;

	if (st && sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_int64(st, 0) >= cfg->notify_rate_per_hour)
		until = (time_t)sqlite3_column_int64(st, 1) + 3600 + 1;
	if (st)
		sqlite3_reset(st);
	return until;
}

/* pending/deferred/sending(expired) -> sending. 1 when claimed. */
static int claim(struct db *db, struct dl *d, const char *address)
{
	long long lease = (long long)time(NULL) + 2LL * cfg->notify_timeout + 5;
	int rc;

	if (db_begin(db) != ATR_OK)
		return 0;
	rc = db_done(db_stmt(
	    db,
	    "UPDATE notify_deliveries SET status = 'sending', attempts = "
	    "attempts + 1, lease_until = ?, address = ? WHERE id = ? AND "
	    "status = ? AND (outbox_id IS NULL OR (SELECT status FROM outbox "
	    "WHERE id = outbox_id) = 'queued')",
	    "isis", lease, address, d->id, d->status));
	if (rc != ATR_OK || sqlite3_changes(db_handle(db)) != 1 ||
	    db_commit(db) != ATR_OK) {
		db_rollback(db);
		return 0;
	}
	free(d->status);
	d->status = strdup("sending");
	d->attempts++;
	return 1;
}

/* Record the outcome of an attempt. */
static void record(struct db *db, struct dl *d, enum notify_result r,
		   const char *err)
{
	if (r == NOTIFY_SENT) {
		transition(db, d, "sent", NULL, 0);
		log_comp(LOG_INFO, "notify", "delivery %lld: %s sent", d->id,
			 notify_channel_name(d->channel));
		return;
	}
	if (r == NOTIFY_TEMPFAIL && notify_stopping()) {
		transition(db, d, "pending", err, (long long)time(NULL));
		return;
	}
	if (r == NOTIFY_TEMPFAIL && d->attempts < cfg->notify_max_attempts) {
		long long next =
		    (long long)time(NULL) +
		    notify_backoff((int)d->attempts, cfg->notify_retry_base,
				   cfg->notify_retry_max);
		transition(db, d, "pending", err, next);
		log_comp(LOG_WARN, "notify",
			 "delivery %lld: %s attempt %lld failed (%s); retry "
			 "in %llds",
			 d->id, notify_channel_name(d->channel), d->attempts,
			 err, next - (long long)time(NULL));
		return;
	}
	if (transition(db, d, "failed", err, 0)) {
		log_comp(LOG_ERROR, "notify",
			 "delivery %lld: %s gave up after %lld attempts: %s",
			 d->id, notify_channel_name(d->channel), d->attempts,
			 err);
		emit_failed(d, err);
	}
}

static void process(struct db *db, long long id)
{
	struct dl d;
	time_t now = time(NULL), until;
	const char *address = NULL;
	char err[256] = "";
	struct notify_msg m;
	enum notify_result r;

	if (dl_load(db, id, &d) != ATR_OK)
		goto out;
	/* The outbox row stays queued while any delivery is open; anything
	 * else (cancelled, or closed by hand) stops this one. */
	if (d.outbox_id && (!d.ostatus || strcmp(d.ostatus, "queued"))) {
		transition(db, &d, "cancelled",
			   !strcmp(d.status, "sending")
			       ? "cancelled after an interrupted attempt"
			       : NULL,
			   0);
		goto out;
	}
	if (!d.prepared && !prepare(db, &d))
		goto out;
	if (d.channel == NOTIFY_PORTAL) {
		transition(db, &d, "sent", NULL, 0);
		goto out;
	}
	if (!notify_channel_on(d.channel)) {
		snprintf(err, sizeof(err), "the %s channel is switched off",
			 notify_channel_name(d.channel));
		transition(db, &d, "failed", err, 0);
		goto out;
	}
	if (d.outbox_id) {
		until = notify_quiet_until(now, quiet_start, quiet_end);
		if (until > now) {
			transition(db, &d, "deferred", "quiet hours",
				   (long long)until);
			goto out;
		}
		until = rate_until(db, &d, now);
		if (until > now) {
			transition(db, &d, "deferred", "rate limit",
				   (long long)until);
			goto out;
		}
	}
	if (d.channel == NOTIFY_EMAIL) {
		address = d.address;
		if (!address && d.email_verified)
			address = d.user_email;
		if (!notify_address_ok(address)) {
			transition(db, &d, "failed",
				   address ? "invalid email address"
					   : "no verified email address",
				   0);
			goto out;
		}
	}
	if (!claim(db, &d, address))
		goto out;
	m = (struct notify_msg){.key = d.key,
				.to = address,
				.title = d.title ? d.title : "",
				.body = d.body ? d.body : "",
				.link = d.link ? d.link : "",
				.kind = d.kind,
				.user_id = d.user_id,
				.created_at = (time_t)d.created_at};
	if (d.channel == NOTIFY_EMAIL)
		r = notify_smtp_send(cfg, &m, err, sizeof(err));
	else
		r = notify_webhook_send(cfg, &m, err, sizeof(err));
	record(db, &d, r, err);
out:
	dl_release(&d);
}

static void deliver_due(struct db *db)
{
	long long ids[BATCH];
	int n = 0;
	long long now = (long long)time(NULL);
	sqlite3_stmt *st = db_stmt(
	    db,
	    "SELECT id FROM notify_deliveries WHERE (status IN "
	    "('pending','deferred') AND next_attempt_at <= ?1) OR (status = "
	    "'sending' AND lease_until <= ?1) ORDER BY next_attempt_at, id "
	    "LIMIT ?2",
	    "iI", now, BATCH);
	if (!st)
		return;
	while (n < BATCH && sqlite3_step(st) == SQLITE_ROW)
		ids[n++] = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	for (int i = 0; i < n && !notify_stopping(); i++)
		process(db, ids[i]);
}

/* ---- the thread --------------------------------------------------------- */

static void *main_loop(void *arg)
{
	struct db *db;
	(void)arg;

	db = db_thread();
	while (!notify_stopping()) {
		struct timespec ts;
		if (db) {
			fanout_due(db);
			deliver_due(db);
		} else {
			db = db_thread();
		}
		pthread_mutex_lock(&mu);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (!notify_stopping())
			pthread_cond_timedwait(&cv, &mu, &ts);
		pthread_mutex_unlock(&mu);
	}
	db_thread_close();
	return NULL;
}

int notify_worker_start(const struct config *c)
{
	cfg = c;
	quiet_start = notify_hhmm(c->quiet_start);
	quiet_end = notify_hhmm(c->quiet_end);
	atomic_store(&stopping, 0);
	if (pthread_create(&thread, NULL, main_loop, NULL))
		return -1;
	running = 1;
	return 0;
}

void notify_worker_stop(void)
{
	if (!running)
		return;
	pthread_mutex_lock(&mu);
	atomic_store(&stopping, 1);
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	pthread_join(thread, NULL);
	running = 0;
}
