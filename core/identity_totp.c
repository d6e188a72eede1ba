/*
 * identity_totp.c - two-step sign-in for the signed-in user:
 * POST /api/auth/totp/enroll makes a pending secret (users.totp_pending)
 * and returns it with its otpauth:// URI and QR code; /confirm checks a
 * code from it, moves it to totp_secret, records the code's step (so the
 * same code cannot sign in afterwards), stores ten hashed recovery codes,
 * shows them once and rotates the session token; /disable turns TOTP off
 * after the password is re-entered, refused for roles that must have it.
 *
 * Checking codes at sign-in is identity_login.c; the arithmetic is totp.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "api.h"
#include "audit.h"
#include "auth.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "identity_int.h"
#include "totp.h"

#define PENDING_TTL 1800 /* seconds to confirm an enrolment */
#define RECOVERY_CODES 10

static void reauth_key(struct atr_ctx *ctx, char key[THROTTLE_KEY_MAX])
{
	char id[24];
	snprintf(id, sizeof(id), "%lld", ctx->user_id);
	throttle_key(key, "reauth", id);
}

static int totp_is_enabled(struct atr_ctx *ctx)
{
	sqlite3_stmt *st =
	    db_stmt(ctx_db(ctx), "SELECT totp_enabled FROM users WHERE id = ?",
		    "i", ctx->user_id);
	int on =
	    st && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0);
	if (st)
		sqlite3_reset(st);
	return on;
}

int idh_totp_enroll(struct atr_ctx *ctx)
{
	static const struct atr_field fields[] = {{NULL, 0, 0, 0}};
	char secret[TOTP_SECRET_B32_LEN];
	char *uri = NULL, *svg = NULL;
	json_t *out;

	/* No fields: an empty body is as good as {}. */
	if (ctx->req->body_len && !atr_host_api.req_json(ctx, fields))
		return ATR_ERESPONDED;
	if (totp_is_enabled(ctx))
		return respond_error(ctx->req, 409, "totp_already_enabled",
				     "two-step sign-in is already on; turn it "
				     "off first, or ask an administrator to "
				     "reset it");
	if (totp_secret_new(secret, sizeof(secret)) ||
	    db_done(db_stmt(ctx_db(ctx),
			    "UPDATE users SET totp_pending = ?, "
			    "totp_pending_at = ? WHERE id = ?",
			    "sii", secret, (long long)time(NULL),
			    ctx->user_id)) != ATR_OK)
		goto fail;
	uri = totp_uri(g_cfg->practice_name, ctx->username, secret);
	svg =
	    uri ? qr_svg(uri, "QR code for setting up two-step sign-in") : NULL;
	if (!svg)
		goto fail;
	out = json_pack("{s:s,s:s,s:s}", "secret", secret, "otpauth_uri", uri,
			"qr_svg", svg);
	sodium_memzero(secret, sizeof(secret));
	sodium_memzero(uri, strlen(uri));
	free(uri);
	free(svg);
	identity_audit_account(ctx, "account.totp_enroll", ctx->user_id, "ok");
	return respond_json(ctx->req, 200, out);
fail:
	sodium_memzero(secret, sizeof(secret));
	free(uri);
	free(svg);
	return respond_error(ctx->req, 503, "unavailable",
			     "two-step sign-in cannot be set up right now");
}

/* Replaces the user's recovery codes with RECOVERY_CODES new ones; the
 * codes, as shown to the user, are appended to out. Inside the caller's
 * transaction. */
static int recovery_codes_new(struct atr_ctx *ctx, json_t *out)
{
	struct db *db = ctx_db(ctx);
	char code[RECOVERY_CODE_LEN], norm[RECOVERY_CODE_LEN], hex[65];

	if (db_done(db_stmt(db, "DELETE FROM recovery_codes WHERE user_id = ?",
			    "i", ctx->user_id)) != ATR_OK)
		return ATR_ERR;
	for (int i = 0; i < RECOVERY_CODES; i++) {
		recovery_code_new(code);
		if (recovery_code_normalise(code, norm))
			return ATR_ERR;
		sha256_hex(norm, strlen(norm), hex);
		if (db_done(db_stmt(db,
				    "INSERT INTO recovery_codes (user_id, "
				    "code_hash) VALUES (?, ?)",
				    "is", ctx->user_id, hex)) != ATR_OK)
			return ATR_ERR;
		json_array_append_new(out, json_string(code));
	}
	sodium_memzero(code, sizeof(code));
	sodium_memzero(norm, sizeof(norm));
	return ATR_OK;
}

int idh_totp_confirm(struct atr_ctx *ctx)
{
	static const struct atr_field fields[] = {
	    {"code", ATR_F_STRING, 1, 16},
	    {NULL, 0, 0, 0},
	};
	json_t *body = atr_host_api.req_json(ctx, fields), *codes;
	struct db *db = ctx_db(ctx);
	char key[THROTTLE_KEY_MAX], pending[128] = "";
	long long now = (long long)time(NULL), at = 0, step, wait;
	const char *code, *csrf;
	sqlite3_stmt *st;

	if (!body)
		return ATR_ERESPONDED;
	code = json_string_value(json_object_get(body, "code"));
	reauth_key(ctx, key);
	if ((wait = throttle_wait(db, key)) > 0)
		return throttle_respond(ctx, wait);
	st = db_stmt(db,
		     "SELECT totp_pending, totp_pending_at FROM users WHERE id "
		     "= ?",
		     "i", ctx->user_id);
	if (st && sqlite3_step(st) == SQLITE_ROW) {
		const char *p = (const char *)sqlite3_column_text(st, 0);
		snprintf(pending, sizeof(pending), "%s", p ? p : "");
		at = sqlite3_column_int64(st, 1);
	}
	if (st)
		sqlite3_reset(st);
	if (!pending[0] || at < now - PENDING_TTL)
		return respond_error(ctx->req, 409, "no_enrollment",
				     "start setting up two-step sign-in "
				     "again");
	if (totp_verify(pending, code, (time_t)now, 1, &step)) {
		sodium_memzero(pending, sizeof(pending));
		throttle_fail(db, key);
		identity_audit_account(ctx, "account.totp_enable", ctx->user_id,
				       "bad_code");
		return identity_bad_field(ctx, "code", "invalid_code",
					  "the code is not right; check the "
					  "clock of your device");
	}
	codes = json_array();
	if (db_begin(db) != ATR_OK)
		goto fail;
	/* The step is recorded, so this code cannot also sign in. */
	if (db_done(db_stmt(db,
			    "UPDATE users SET totp_secret = totp_pending, "
			    "totp_enabled = 1, totp_pending = NULL, "
			    "totp_pending_at = NULL, totp_last_step = "
			    "MAX(totp_last_step, ?), updated_at = "
			    "strftime('%Y-%m-%dT%H:%M:%SZ','now') "
			    "WHERE id = ? AND totp_pending = ?",
			    "iis", step, ctx->user_id, pending)) != ATR_OK ||
	    sqlite3_changes(db_handle(db)) != 1 ||
	    recovery_codes_new(ctx, codes) != ATR_OK)
		goto fail;
	identity_audit_account(ctx, "account.totp_enable", ctx->user_id, "ok");
	if (db_commit(db) != ATR_OK)
		goto fail;
	sodium_memzero(pending, sizeof(pending));
	throttle_clear(db, key);
	csrf = session_rotate(ctx);
	return respond_json(ctx->req, 200,
			    json_pack("{s:o,s:s?}", "recovery_codes", codes,
				      "csrf_token", csrf));
fail:
	db_rollback(db);
	sodium_memzero(pending, sizeof(pending));
	json_decref(codes);
	return respond_error(ctx->req, 503, "unavailable",
			     "two-step sign-in cannot be set up right now");
}

static void disable_finish(struct atr_ctx *ctx, void *arg)
{
	struct idjob *j = arg;
	struct db *db = ctx_db(ctx);
	char key[THROTTLE_KEY_MAX];

	reauth_key(ctx, key);
	if (!j->verified) {
		throttle_fail(db, key);
		identity_audit_account(ctx, "account.totp_disable",
				       ctx->user_id, "bad_password");
		identity_bad_field(ctx, "password", "invalid_credentials",
				   "the password is not right");
		return;
	}
	throttle_clear(db, key);
	if (db_begin(db) != ATR_OK ||
	    db_done(
		db_stmt(db,
			"UPDATE users SET totp_enabled = 0, totp_secret = "
			"NULL, totp_pending = NULL, totp_pending_at = NULL, "
			"updated_at = strftime('%Y-%m-%dT%H:%M:%SZ','now') "
			"WHERE id = ?",
			"i", ctx->user_id)) != ATR_OK ||
	    db_done(db_stmt(db, "DELETE FROM recovery_codes WHERE user_id = ?",
			    "i", ctx->user_id)) != ATR_OK)
		goto fail;
	identity_audit_account(ctx, "account.totp_disable", ctx->user_id, "ok");
	if (db_commit(db) != ATR_OK)
		goto fail;
	respond_raw(ctx->req, 204, NULL, NULL, 0);
	return;
fail:
	db_rollback(db);
	respond_error(ctx->req, 503, "unavailable",
		      "two-step sign-in cannot be turned off right now");
}

int idh_totp_disable(struct atr_ctx *ctx)
{
	static const struct atr_field fields[] = {
	    {"password", ATR_F_STRING, 1, PASSWORD_MAX},
	    {NULL, 0, 0, 0},
	};
	json_t *body = atr_host_api.req_json(ctx, fields);
	char key[THROTTLE_KEY_MAX];
	struct idjob *j;
	sqlite3_stmt *st;
	long long wait;

	if (!body)
		return ATR_ERESPONDED;
	j = idjob_new(ctx);
	if (!j)
		return ATR_ENOMEM;
	j->current = idjob_take(ctx, body, "password", &j->curlen);
	if (!j->current)
		return ATR_ENOMEM;
	if (auth_totp_required(ctx->role)) {
		idjob_wipe(j);
		return respond_error(ctx->req, 403, "totp_required",
				     "your role must keep two-step sign-in");
	}
	reauth_key(ctx, key);
	if ((wait = throttle_wait(ctx_db(ctx), key)) > 0) {
		idjob_wipe(j);
		return throttle_respond(ctx, wait);
	}
	st =
	    db_stmt(ctx_db(ctx), "SELECT password_hash FROM users WHERE id = ?",
		    "i", ctx->user_id);
	if (st && sqlite3_step(st) == SQLITE_ROW) {
		const char *h = (const char *)sqlite3_column_text(st, 0);
		snprintf(j->hash, sizeof(j->hash), "%s", h ? h : "");
	}
	if (st)
		sqlite3_reset(st);
	return idjob_start(ctx, j, disable_finish);
}
