/*
 * identity_login.c - signing in and out: POST /api/auth/login,
 * POST /api/auth/logout and GET /api/auth/me.
 *
 * A sign-in looks the account up, checks the attempt throttle (per login
 * name, or per device cookie for a browser that signed in before), verifies
 * the password on the offload pool (a dummy verify of the same cost for
 * unknown names), then on a worker checks TOTP or a recovery code, starts
 * the session and writes the audit row. Unknown name, wrong password, wrong
 * code and locked account give the same 401 body; each counts as a failure
 * on the same kind of key. Sessions themselves are auth.c's.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "api.h"
#include "audit.h"
#include "auth.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "identity.h"
#include "identity_int.h"
#include "totp.h"

#define LOGIN_NAME_MAX 256

struct login {
	long long user_id;	/* 0: unknown username */
	long long device_id;	/* a device cookie for this account */
	long long prev_session; /* the session the browser had, if any */
	long long prev_user;
	char username[LOGIN_NAME_MAX + 1];
	char key[THROTTLE_KEY_MAX];
	char hash[PW_HASH_MAX];
	char new_hash[PW_HASH_MAX]; /* rehash with current parameters */
	char *password;		    /* arena copy, wiped after hashing */
	size_t pwlen;
	const char *totp;
	unsigned role;
	int locked, ok;
};

static void login_work(struct request *req, void *arg)
{
	struct login *l = arg;
	(void)req;
	if (l->user_id && l->hash[0]) {
		l->ok = pw_verify(l->hash, l->password, l->pwlen) == 0;
		if (l->ok && pw_needs_rehash(l->hash) &&
		    pw_hash(l->password, l->pwlen, l->new_hash))
			l->new_hash[0] = '\0';
	} else {
		pw_dummy_verify(l->password, l->pwlen);
		l->ok = 0;
	}
	sodium_memzero(l->password, l->pwlen);
}

static void login_audit(struct atr_ctx *ctx, struct login *l,
			const char *outcome)
{
	audit_write(
	    ctx_db(ctx),
	    &(struct audit_rec){.user_id = l->user_id,
				.username = l->username,
				.role = l->user_id ? role_name(l->role) : NULL,
				.action = "auth.login",
				.client = request_client(ctx->req),
				.outcome = outcome});
}

static void login_failed(struct atr_ctx *ctx, struct login *l, const char *why)
{
	if (l->device_id)
		device_fail(ctx_db(ctx), l->device_id);
	else
		throttle_fail(ctx_db(ctx), l->key);
	login_audit(ctx, l, why);
	respond_error(ctx->req, 401, "invalid_credentials",
		      "the username or password is not right");
}

/* TOTP (or a recovery code) for an account that has it. 1 when it
 * passes, 0 when wrong, -1 when missing. */
static int check_second_factor(struct atr_ctx *ctx, struct login *l)
{
	struct db *db = ctx_db(ctx);
	char secret[128] = "", norm[RECOVERY_CODE_LEN], hex[65];
	long long last = 0, step;
	sqlite3_stmt *st;
	int ok;

	if (!l->totp || !*l->totp)
		return -1;
	st = db_stmt(db,
		     "SELECT totp_secret, totp_last_step FROM users WHERE id "
		     "= ?",
		     "i", l->user_id);
	if (st && sqlite3_step(st) == SQLITE_ROW) {
		const char *s = (const char *)sqlite3_column_text(st, 0);
		snprintf(secret, sizeof(secret), "%s", s ? s : "");
		last = sqlite3_column_int64(st, 1);
	}
	if (st)
		sqlite3_reset(st);
	if (!secret[0])
		return 0;
	if (strlen(l->totp) == TOTP_DIGITS) {
		ok = !totp_verify(secret, l->totp, time(NULL), 1, &step) &&
		     step > last;
		sodium_memzero(secret, sizeof(secret));
		if (!ok)
			return 0; /* wrong, or replay of a used code */
		/* Record the step; the WHERE refuses a racing replay. */
		return db_done(db_stmt(db,
				       "UPDATE users SET totp_last_step = ? "
				       "WHERE id = ? AND totp_last_step < ?",
				       "iii", step, l->user_id, step)) ==
			   ATR_OK &&
		       sqlite3_changes(db_handle(db)) == 1;
	}
	sodium_memzero(secret, sizeof(secret));
	if (recovery_code_normalise(l->totp, norm))
		return 0;
	sha256_hex(norm, strlen(norm), hex);
	if (db_done(db_stmt(db,
			    "UPDATE recovery_codes SET used_at = ? WHERE "
			    "user_id = ? AND code_hash = ? AND used_at IS NULL",
			    "iis", (long long)time(NULL), l->user_id, hex)) !=
	    ATR_OK)
		return 0;
	return sqlite3_changes(db_handle(db)) == 1;
}

static json_t *auth_body(struct atr_ctx *ctx, long long user_id,
			 const char *csrf)
{
	json_t *user = identity_user_json(ctx, user_id);
	return json_pack("{s:o,s:s,s:i,s:b}", "user", user ? user : json_null(),
			 "csrf_token", csrf, "idle_timeout_seconds",
			 session_idle_timeout(ctx->role), "must_enroll_totp",
			 auth_must_enroll(ctx));
}

static int totp_enabled(struct db *db, long long user_id)
{
	sqlite3_stmt *st = db_stmt(
	    db, "SELECT totp_enabled FROM users WHERE id = ?", "i", user_id);
	int on =
	    st && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0);
	if (st)
		sqlite3_reset(st);
	return on;
}

/* The user.login event for workflow scripts (after the fact: a script
 * cannot refuse a sign-in). */
static void emit_login(struct atr_ctx *ctx, struct login *l)
{
	json_t *p = json_pack("{s:I,s:s}", "user_id", l->user_id, "role",
			      role_name(l->role));
	const char *reason = NULL;
	if (p)
		events_emit(ctx, "user.login", p, &reason);
	json_decref(p);
}

static void login_finish(struct atr_ctx *ctx, void *arg)
{
	struct login *l = arg;
	struct db *db = ctx_db(ctx);
	const char *csrf;
	int second = 1;

	if (!l->ok || l->locked) {
		login_failed(ctx, l, l->locked ? "locked" : "bad_password");
		return;
	}
	if (totp_enabled(db, l->user_id))
		second = check_second_factor(ctx, l);
	if (second == -1) {
		/* Password right, code missing: not counted as a failure. */
		login_audit(ctx, l, "totp_required");
		respond_error(ctx->req, 401, "totp_required",
			      "enter the 6-digit code from your "
			      "authenticator app");
		return;
	}
	if (second == 0) {
		login_failed(ctx, l, "bad_totp");
		return;
	}
	if (!l->device_id)
		throttle_clear(db, l->key);
	if (l->new_hash[0])
		db_done(db_stmt(
		    db, "UPDATE users SET password_hash = ? WHERE id = ?", "si",
		    l->new_hash, l->user_id));
	sodium_memzero(l->new_hash, sizeof(l->new_hash));
	/* The browser's previous session ends: one cookie, one session. */
	if (l->prev_session)
		session_revoke(ctx, l->prev_user, l->prev_session);
	ctx->user_id = l->user_id;
	ctx->role = l->role;
	ctx->username = arena_strdup(ctx->arena, l->username);
	csrf = session_create(ctx, l->user_id);
	if (!csrf) {
		respond_error(ctx->req, 503, "unavailable",
			      "the service is temporarily unavailable");
		return;
	}
	device_remember(ctx, l->user_id, l->device_id);
	login_audit(ctx, l, "ok");
	respond_json(ctx->req, 200, auth_body(ctx, l->user_id, csrf));
	emit_login(ctx, l);
}

static const struct atr_field login_fields[] = {
    {"username", ATR_F_STRING, 1, LOGIN_NAME_MAX},
    {"password", ATR_F_STRING, 1, PASSWORD_MAX},
    {"totp", ATR_F_STRING, 0, 32},
    {NULL, 0, 0, 0},
};

/* Fills l from the account named u (nothing when there is none). */
static void login_lookup(struct atr_ctx *ctx, struct login *l, const char *u)
{
	sqlite3_stmt *st = db_stmt(ctx_db(ctx),
				   "SELECT id, password_hash, role, locked "
				   "FROM users WHERE username = ?",
				   "s", u);
	if (st && sqlite3_step(st) == SQLITE_ROW) {
		const char *h = (const char *)sqlite3_column_text(st, 1);
		l->user_id = sqlite3_column_int64(st, 0);
		snprintf(l->hash, sizeof(l->hash), "%s", h ? h : "");
		l->role = role_parse((const char *)sqlite3_column_text(st, 2));
		l->locked = sqlite3_column_int(st, 3);
	}
	if (st)
		sqlite3_reset(st);
}

int idh_login(struct atr_ctx *ctx)
{
	json_t *body = atr_host_api.req_json(ctx, login_fields);
	struct login *l;
	const char *u;
	long long wait;

	if (!body)
		return ATR_ERESPONDED;
	l = arena_alloc(ctx->arena, sizeof(*l));
	if (!l)
		return ATR_ENOMEM;
	l->password = idjob_take(ctx, body, "password", &l->pwlen);
	if (!l->password)
		return ATR_ENOMEM;
	u = json_string_value(json_object_get(body, "username"));
	snprintf(l->username, sizeof(l->username), "%s", u);
	throttle_key(l->key, "user", u);
	l->totp = json_string_value(json_object_get(body, "totp"));
	l->prev_session = ctx->session_id;
	l->prev_user = ctx->user_id;
	login_lookup(ctx, l, u);
	l->device_id = device_find(ctx, l->user_id, &wait);
	if (!l->device_id)
		wait = throttle_wait(ctx_db(ctx), l->key);
	if (wait > 0) {
		sodium_memzero(l->password, l->pwlen);
		login_audit(ctx, l, "throttled");
		return throttle_respond(ctx, wait);
	}
	if (http_offload(ctx, login_work, login_finish, l)) {
		sodium_memzero(l->password, l->pwlen);
		respond_header(ctx->req, "Retry-After", "1");
		return respond_error(ctx->req, 503, "busy",
				     "too many sign-ins at once; try again");
	}
	return ATR_OK;
}

int idh_logout(struct atr_ctx *ctx)
{
	session_revoke(ctx, ctx->user_id, ctx->session_id);
	session_clear_cookie(ctx);
	audit_ctx(ctx, "auth.logout", 0, NULL, NULL, "ok");
	return respond_raw(ctx->req, 204, NULL, NULL, 0);
}

int idh_me(struct atr_ctx *ctx)
{
	/* The session's CSRF token is derived, not stored: every tab of
	 * the session gets the same one. Like every signed-in request, me
	 * counts as activity (the "stay signed in" button): auth_resolve
	 * refreshes the idle timer. */
	const char *csrf = session_csrf(ctx);
	if (!csrf)
		return respond_error(ctx->req, 503, "unavailable",
				     "the service is temporarily unavailable");
	return respond_json(ctx->req, 200, auth_body(ctx, ctx->user_id, csrf));
}
