/*
 * identity.c - see identity.h. Password hashing never runs on a request
 * worker: login and password changes hand the argon2id work to the offload
 * pool (http_offload) and finish on a worker once it is done.
 */
#include "identity.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "audit.h"
#include "auth.h"
#include "config.h"
#include "core_routes.h"
#include "crypto.h"
#include "db.h"
#include "log.h"
#include "totp.h"

#define USERNAME_MAX 64

/* Usernames: 3-64 of [a-z0-9._-@], starting with a letter or digit. */
static int username_ok(const char *u)
{
	size_t n = strlen(u);
	if (n < 3 || n > USERNAME_MAX || !isalnum((unsigned char)u[0]))
		return 0;
	for (; *u; u++)
		if (!isalnum((unsigned char)*u) && !strchr("._-@", *u))
			return 0;
	return 1;
}

long long identity_create_user(struct db *db, const char *username,
			       const char *display_name, const char *role,
			       const char *password, const char **why)
{
	char hash[PW_HASH_MAX];
	int rc;

	if (!username_ok(username)) {
		*why = "username must be 3-64 letters, digits or . _ - @";
		return ATR_EINVAL;
	}
	if (!role_parse(role)) {
		*why = "role must be patient, staff, physician or admin";
		return ATR_EINVAL;
	}
	if (!display_name || !*display_name || strlen(display_name) > 200) {
		*why = "display name must be 1-200 bytes";
		return ATR_EINVAL;
	}
	if ((*why = pw_policy_check(password, username)))
		return ATR_EINVAL;
	if (pw_hash(password, strlen(password), hash)) {
		*why = "password hashing failed";
		return ATR_ERR;
	}
	rc = db_done(db_stmt(db,
			     "INSERT INTO users (username, display_name, role, "
			     "password_hash) VALUES (?, ?, ?, ?)",
			     "ssss", username, display_name, role, hash));
	sodium_memzero(hash, sizeof(hash));
	if (rc == ATR_ECONFLICT) {
		*why = "username is taken";
		return rc;
	}
	if (rc != ATR_OK) {
		*why = "database error";
		return rc;
	}
	return sqlite3_last_insert_rowid(db_handle(db));
}

json_t *identity_user_json(struct atr_ctx *ctx, long long user_id)
{
	int st;
	json_t *params = json_pack("[I]", user_id);
	json_t *u = db_one(ctx_db(ctx),
			   "SELECT id, username, display_name, role, "
			   "totp_enabled = 1 AS totp_enabled FROM users "
			   "WHERE id = ?",
			   params, &st);
	json_decref(params);
	if (u) {
		json_object_set_new(
		    u, "totp_enabled",
		    json_boolean(json_integer_value(
			json_object_get(u, "totp_enabled"))));
	}
	return u;
}

/* ---- login ------------------------------------------------------------ */

struct login {
	long long user_id; /* 0: unknown username */
	char username[USERNAME_MAX + 1];
	char hash[PW_HASH_MAX];
	char new_hash[PW_HASH_MAX]; /* rehash with current parameters */
	char *password;             /* arena copy, wiped after hashing */
	size_t pwlen;
	const char *totp;
	unsigned role;
	int locked, ok;
	long long throttled_until;
	int failed_logins;
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

static int login_failed(struct atr_ctx *ctx, struct login *l,
			const char *code, const char *why)
{
	long long now = (long long)time(NULL);
	struct audit_rec r = {.user_id = l->user_id,
			      .username = l->username,
			      .action = "auth.login",
			      .client = ctx->req->client,
			      .outcome = why};
	if (l->user_id) {
		/* Exponential delay once past the threshold, capped at 15 min:
		 * a stranger can slow an account down, never lock it for
		 * good. */
		int over = l->failed_logins + 1 - g_cfg->lockout_threshold;
		long long delay = 0;
		if (over >= 0)
			delay = over > 10 ? 900 : (1LL << over) * 1;
		if (delay > 900)
			delay = 900;
		db_done(db_stmt(ctx_db(ctx),
				"UPDATE users SET failed_logins = failed_logins "
				"+ 1, throttled_until = ? WHERE id = ?",
				"ii", now + delay, l->user_id));
		r.role = role_name(l->role);
	}
	audit_write(ctx_db(ctx), &r);
	return respond_error(ctx->req, 401, code,
			     !strcmp(code, "totp_required")
				 ? "enter the 6-digit code from your "
				   "authenticator app"
				 : "the username or password is not right");
}

/* TOTP (or a recovery code) for an account that has it. 1 when it
 * passes, 0 when wrong, -1 when missing. */
static int check_second_factor(struct atr_ctx *ctx, struct login *l)
{
	struct db *db = ctx_db(ctx);
	char secret[128] = "", norm[RECOVERY_CODE_LEN], hex[65];
	long long last = 0, step;
	sqlite3_stmt *st;

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
	if (strlen(l->totp) == 6) {
		if (totp_verify(secret, l->totp, time(NULL), 1, &step) ||
		    step <= last)
			return 0; /* wrong, or replay of a used code */
		/* Record the step; the WHERE refuses a racing replay. */
		if (db_done(db_stmt(db,
				    "UPDATE users SET totp_last_step = ? "
				    "WHERE id = ? AND totp_last_step < ?",
				    "iii", step, l->user_id, step)) != ATR_OK ||
		    sqlite3_changes(db_handle(db)) != 1)
			return 0;
		return 1;
	}
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

static void login_finish(struct atr_ctx *ctx, void *arg)
{
	struct login *l = arg;
	struct db *db = ctx_db(ctx);
	struct audit_rec r = {.user_id = l->user_id,
			      .username = l->username,
			      .role = role_name(l->role),
			      .action = "auth.login",
			      .client = ctx->req->client,
			      .outcome = "ok"};
	const char *csrf;
	int second;

	if (!l->ok || l->locked) {
		login_failed(ctx, l, "invalid_credentials",
			     l->locked ? "locked" : "bad_password");
		return;
	}
	second = 1;
	{
		sqlite3_stmt *st = db_stmt(
		    db, "SELECT totp_enabled FROM users WHERE id = ?", "i",
		    l->user_id);
		int enabled = st && sqlite3_step(st) == SQLITE_ROW &&
			      sqlite3_column_int(st, 0);
		if (st)
			sqlite3_reset(st);
		if (enabled)
			second = check_second_factor(ctx, l);
	}
	if (second == -1) {
		/* Password right, code missing: not counted as a failure. */
		audit_write(db, &(struct audit_rec){
				    .user_id = l->user_id,
				    .username = l->username,
				    .role = role_name(l->role),
				    .action = "auth.login",
				    .client = ctx->req->client,
				    .outcome = "totp_required"});
		respond_error(ctx->req, 401, "totp_required",
			      "enter the 6-digit code from your "
			      "authenticator app");
		return;
	}
	if (second == 0) {
		login_failed(ctx, l, "invalid_credentials", "bad_totp");
		return;
	}
	db_done(db_stmt(db,
			"UPDATE users SET failed_logins = 0, throttled_until "
			"= 0 WHERE id = ?",
			"i", l->user_id));
	if (l->new_hash[0])
		db_done(db_stmt(db,
				"UPDATE users SET password_hash = ? WHERE id = ?",
				"si", l->new_hash, l->user_id));
	ctx->user_id = l->user_id;
	ctx->role = l->role;
	ctx->username = arena_strdup(ctx->arena, l->username);
	csrf = session_create(ctx, l->user_id);
	if (!csrf) {
		respond_error(ctx->req, 503, "unavailable",
			      "the service is temporarily unavailable");
		return;
	}
	audit_write(db, &r);
	respond_json(ctx->req, 200, auth_body(ctx, l->user_id, csrf));
}

static const struct atr_field login_fields[] = {
    {"username", ATR_F_STRING, 1, 256},
    {"password", ATR_F_STRING, 1, 1024},
    {"totp", ATR_F_STRING, 0, 32},
    {NULL, 0, 0, 0},
};

static int h_login(struct atr_ctx *ctx)
{
	extern const struct atr_api atr_host_api;
	struct request *req = ctx->req;
	json_t *body = atr_host_api.req_json(ctx, login_fields);
	struct login *l;
	const char *u, *pw;
	sqlite3_stmt *st;
	long long now = (long long)time(NULL);

	if (!body)
		return ATR_ERESPONDED;
	u = json_string_value(json_object_get(body, "username"));
	pw = json_string_value(json_object_get(body, "password"));
	l = arena_alloc(&req->arena, sizeof(*l));
	if (!l)
		return ATR_ENOMEM;
	snprintf(l->username, sizeof(l->username), "%s", u);
	l->pwlen = json_string_length(json_object_get(body, "password"));
	l->password = arena_strndup(&req->arena, pw, l->pwlen);
	sodium_memzero((char *)(uintptr_t)pw, l->pwlen);
	l->totp = json_string_value(json_object_get(body, "totp"));
	if (!l->password)
		return ATR_ENOMEM;
	st = db_stmt(ctx_db(ctx),
		     "SELECT id, password_hash, role, locked, throttled_until, "
		     "failed_logins FROM users WHERE username = ?",
		     "s", u);
	if (st && sqlite3_step(st) == SQLITE_ROW) {
		const char *h = (const char *)sqlite3_column_text(st, 1);
		l->user_id = sqlite3_column_int64(st, 0);
		snprintf(l->hash, sizeof(l->hash), "%s", h ? h : "");
		l->role = role_parse((const char *)sqlite3_column_text(st, 2));
		l->locked = sqlite3_column_int(st, 3);
		l->throttled_until = sqlite3_column_int64(st, 4);
		l->failed_logins = sqlite3_column_int(st, 5);
	}
	if (st)
		sqlite3_reset(st);
	if (l->throttled_until > now) {
		char *ra = arena_sprintf(&req->arena, "%lld",
					 l->throttled_until - now);
		sodium_memzero(l->password, l->pwlen);
		respond_header(req, "Retry-After", ra);
		audit_write(ctx_db(ctx),
			    &(struct audit_rec){.user_id = l->user_id,
						.username = l->username,
						.action = "auth.login",
						.client = req->client,
						.outcome = "throttled"});
		return respond_error(req, 429, "too_many_attempts",
				     "too many attempts; try again in %s "
				     "seconds",
				     ra);
	}
	if (http_offload(ctx, login_work, login_finish, l)) {
		sodium_memzero(l->password, l->pwlen);
		respond_header(req, "Retry-After", "1");
		return respond_error(req, 503, "busy",
				     "too many sign-ins at once; try again");
	}
	return ATR_OK;
}

static int h_logout(struct atr_ctx *ctx)
{
	session_revoke(ctx, ctx->user_id, ctx->session_id);
	session_clear_cookie(ctx);
	audit_ctx(ctx, "auth.logout", 0, NULL, NULL, "ok");
	return respond_raw(ctx->req, 204, NULL, NULL, 0);
}

static int h_me(struct atr_ctx *ctx)
{
	/* The CSRF token is not stored in clear: me hands out a new one,
	 * rotating it for this session. */
	char csrf[TOKEN_STR_LEN], hash[65];
	token_new(csrf);
	sha256_hex(csrf, strlen(csrf), hash);
	if (db_done(db_stmt(ctx_db(ctx),
			    "UPDATE sessions SET csrf_hash = ?, last_seen_at = "
			    "? WHERE id = ?",
			    "sii", hash, (long long)time(NULL),
			    ctx->session_id)) != ATR_OK)
		return respond_error(ctx->req, 503, "unavailable",
				     "the service is temporarily unavailable");
	return respond_json(ctx->req, 200, auth_body(ctx, ctx->user_id, csrf));
}

static const struct core_route identity_routes[] = {
    {"POST", "/api/auth/login", h_login, 0, ATR_ROUTE_PUBLIC, "sign in"},
    {"POST", "/api/auth/logout", h_logout, ATR_ROLES_ANY_USER, 0,
     "sign out"},
    {"GET", "/api/auth/me", h_me, ATR_ROLES_ANY_USER, 0,
     "the signed-in user and a fresh CSRF token"},
    {NULL, NULL, NULL, 0, 0, NULL},
};

int identity_routes_register(struct router *r, char *err, size_t errlen)
{
	return core_routes_add(r, identity_routes, err, errlen);
}
