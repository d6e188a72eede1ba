/*
 * identity_account.c - what a signed-in user does to their own account:
 * list and end their sessions (GET/DELETE /api/auth/sessions) and change
 * their password (POST /api/auth/password). Every query is scoped by the
 * caller's own user id; there is no parameter naming another user.
 *
 * TOTP enrolment is identity_totp.c; sign-in is identity_login.c.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "api.h"
#include "audit.h"
#include "auth.h"
#include "config.h"
#include "db.h"
#include "identity_int.h"

int idh_sessions(struct atr_ctx *ctx)
{
	long long now = (long long)time(NULL);
	json_t *list = json_array();
	sqlite3_stmt *st;

	/* Live sessions only: not revoked, within the absolute and idle
	 * limits (the idle limit is the caller's role's). */
	st = db_stmt(ctx_db(ctx),
		     "SELECT id, created_at, last_seen_at, client, user_agent "
		     "FROM sessions WHERE user_id = ? AND revoked = 0 AND "
		     "expires_at > ? AND last_seen_at > ? ORDER BY id DESC",
		     "iii", ctx->user_id, now,
		     now - (long long)session_idle_timeout(ctx->role));
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		long long id = sqlite3_column_int64(st, 0);
		const char *client = (const char *)sqlite3_column_text(st, 3);
		const char *ua = (const char *)sqlite3_column_text(st, 4);
		json_array_append_new(
		    list,
		    json_pack("{s:I,s:s,s:s,s:s?,s:s?,s:b}", "id", id,
			      "created_at",
			      identity_time(ctx, sqlite3_column_int64(st, 1)),
			      "last_seen_at",
			      identity_time(ctx, sqlite3_column_int64(st, 2)),
			      "client", client, "user_agent", ua, "current",
			      id == ctx->session_id));
	}
	if (st)
		sqlite3_reset(st);
	return respond_json(ctx->req, 200,
			    json_pack("{s:o}", "sessions", list));
}

int idh_session_delete(struct atr_ctx *ctx)
{
	long long id = identity_param_id(ctx, "id");
	char oid[32];

	if (!id || session_revoke(ctx, ctx->user_id, id) != ATR_OK)
		return respond_error(ctx->req, 404, "not_found",
				     "no such session");
	snprintf(oid, sizeof(oid), "%lld", id);
	audit_ctx(ctx, "auth.session_revoke", 0, "session", oid, "ok");
	if (id == ctx->session_id)
		session_clear_cookie(ctx);
	return respond_raw(ctx->req, 204, NULL, NULL, 0);
}

/* ---- password change --------------------------------------------------- */

static const struct atr_field password_fields[] = {
    {"current_password", ATR_F_STRING, 1, PASSWORD_MAX},
    {"new_password", ATR_F_STRING, 1, PASSWORD_MAX},
    {NULL, 0, 0, 0},
};

/* The stored hash of the signed-in user into out ("" when none). */
static void own_hash(struct atr_ctx *ctx, char out[PW_HASH_MAX])
{
	sqlite3_stmt *st =
	    db_stmt(ctx_db(ctx), "SELECT password_hash FROM users WHERE id = ?",
		    "i", ctx->user_id);
	out[0] = '\0';
	if (st && sqlite3_step(st) == SQLITE_ROW) {
		const char *h = (const char *)sqlite3_column_text(st, 0);
		snprintf(out, PW_HASH_MAX, "%s", h ? h : "");
	}
	if (st)
		sqlite3_reset(st);
}

static void password_finish(struct atr_ctx *ctx, void *arg)
{
	struct idjob *j = arg;
	struct db *db = ctx_db(ctx);
	char key[THROTTLE_KEY_MAX], id[24];
	const char *csrf;

	snprintf(id, sizeof(id), "%lld", ctx->user_id);
	throttle_key(key, "reauth", id);
	if (!j->verified) {
		throttle_fail(db, key);
		identity_audit_account(ctx, "account.password_change",
				       ctx->user_id, "bad_password");
		identity_bad_field(ctx, "current_password",
				   "invalid_credentials",
				   "the current password is not right");
		return;
	}
	throttle_clear(db, key);
	if (j->why) {
		identity_bad_field(ctx, "new_password", "weak_password",
				   j->why);
		return;
	}
	if (j->failed || db_begin(db) != ATR_OK)
		goto fail;
	if (db_done(db_stmt(db,
			    "UPDATE users SET password_hash = ?, updated_at = "
			    "strftime('%Y-%m-%dT%H:%M:%SZ','now') WHERE id = ?",
			    "si", j->new_hash, ctx->user_id)) != ATR_OK ||
	    session_revoke_all(ctx, ctx->user_id, ctx->session_id) != ATR_OK)
		goto fail;
	identity_audit_account(ctx, "account.password_change", ctx->user_id,
			       "ok");
	if (db_commit(db) != ATR_OK)
		goto fail;
	sodium_memzero(j->new_hash, sizeof(j->new_hash));
	/* A new session token for the new privilege; the old one dies. */
	csrf = session_rotate(ctx);
	if (!csrf) {
		respond_error(ctx->req, 503, "unavailable",
			      "the password was changed; sign in again");
		return;
	}
	respond_json(ctx->req, 200, json_pack("{s:s}", "csrf_token", csrf));
	return;
fail:
	db_rollback(db);
	sodium_memzero(j->new_hash, sizeof(j->new_hash));
	respond_error(ctx->req, 503, "unavailable",
		      "the password could not be changed; try again");
}

int idh_password(struct atr_ctx *ctx)
{
	json_t *body = atr_host_api.req_json(ctx, password_fields);
	struct idjob *j;
	char key[THROTTLE_KEY_MAX], id[24];
	long long wait;

	if (!body)
		return ATR_ERESPONDED;
	j = idjob_new(ctx);
	if (!j)
		return ATR_ENOMEM;
	j->current = idjob_take(ctx, body, "current_password", &j->curlen);
	j->password = idjob_take(ctx, body, "new_password", &j->pwlen);
	if (!j->current || !j->password)
		return ATR_ENOMEM;
	snprintf(j->username, sizeof(j->username), "%s", ctx->username);
	snprintf(id, sizeof(id), "%lld", ctx->user_id);
	throttle_key(key, "reauth", id);
	if ((wait = throttle_wait(ctx_db(ctx), key)) > 0) {
		idjob_wipe(j);
		return throttle_respond(ctx, wait);
	}
	own_hash(ctx, j->hash);
	return idjob_start(ctx, j, password_finish);
}
