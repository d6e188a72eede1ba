/*
 * auth.c - see auth.h. Cookie names and attributes, session rows (create,
 * rotate, revoke) and the per-request checks (session, CSRF, TOTP gate)
 * live here; nothing here verifies a password.
 */
#include "auth.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "audit.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "log.h"

/* How often a session in use has its last_seen_at written: a thirtieth of
 * the idle timeout, at least a second and at most a minute. Each write is
 * a commit (an fsync, and every other connection's page cache emptied), so
 * an active session is touched rarely; the price is that an idle session
 * may end up to that much early (one minute of a patient's thirty). */
static time_t touch_every(unsigned role)
{
	time_t t = session_idle_timeout(role) / 30;
	return t < 1 ? 1 : t > 60 ? 60 : t;
}

static int tls(void)
{
	return g_cfg && g_cfg->tls_cert && *g_cfg->tls_cert;
}

static const char *cookie_name(const char *base)
{
	if (!strcmp(base, "atrium_device"))
		return tls() ? "__Host-atrium_device" : "atrium_device";
	return tls() ? "__Host-atrium_session" : "atrium_session";
}

const char *auth_cookie_get(struct request *req, const char *base)
{
	return request_cookie(req, cookie_name(base));
}

int session_idle_timeout(unsigned role)
{
	return role == ATR_ROLE_PATIENT ? g_cfg->idle_timeout_patient
					: g_cfg->idle_timeout_staff;
}

int auth_totp_required(unsigned role)
{
	return role == ATR_ROLE_ADMIN ||
	       (role == ATR_ROLE_PHYSICIAN && g_cfg->totp_physician) ||
	       (role == ATR_ROLE_STAFF && g_cfg->totp_staff);
}

/* The CSRF token of a session is a keyed BLAKE2b MAC of its token hash
 * (key in core_secrets): the same for every
 * tab of that session, never stored in clear, and new whenever the session
 * token is. The key lives in core_secrets so tokens survive a restart. */
static unsigned char csrf_key[crypto_auth_hmacsha256_KEYBYTES];

/* token_hash (hex) -> CSRF token (base64url, TOKEN_STR_LEN). */
static void csrf_for(const char *token_hash, char out[TOKEN_STR_LEN])
{
	/* Keyed BLAKE2b: a MAC like HMAC-SHA-256, in a fifth of the time;
	 * every signed-in read returns or checks one. */
	unsigned char mac[32];
	crypto_generichash(mac, sizeof(mac), (const unsigned char *)token_hash,
			   strlen(token_hash), csrf_key, 32);
	sodium_bin2base64(out, TOKEN_STR_LEN, mac, sizeof(mac),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* ---- session cache -------------------------------------------------- */

/* What the session query returned, kept per worker thread together with
 * the database's commit stamp at the time. While the stamp is unchanged no
 * connection has committed anything, so the rows are still exactly these;
 * the time checks are redone on every use. A stale stamp means a miss. */
struct sess_entry {
	char token[TOKEN_STR_LEN];
	char hash[65];
	char username[64];
	unsigned char stamp[DB_STAMP_LEN];
	long long sid, uid, seen, exp;
	unsigned role;
	int locked, totp_enabled, used;
};

#define SESS_CACHE 16 /* per thread, direct-mapped */

static _Thread_local struct sess_entry sess_cache[SESS_CACHE];

static struct sess_entry *sess_slot(const char *tok)
{
	unsigned h = 2166136261u;
	for (const char *p = tok; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return &sess_cache[h % SESS_CACHE];
}

/* The cached entry for tok if no commit happened since it was filled. */
static const struct sess_entry *sess_lookup(const char *tok)
{
	struct sess_entry *e = sess_slot(tok);
	unsigned char now[DB_STAMP_LEN];
	if (e->used != 1 ||
	    sodium_memcmp(e->token, tok, TOKEN_STR_LEN - 1) ||
	    db_stamp(NULL, now) || memcmp(now, e->stamp, DB_STAMP_LEN))
		return NULL;
	return e;
}

/* Apply a session row (cached or fresh) to the request. 1 when it
 * signs the request in, 0 when it does not, and -1 when it is live but
 * due a last-seen refresh (the caller writes it). */
static int sess_apply(struct request *req, const struct sess_entry *e,
		      time_t now)
{
	struct atr_ctx *ctx = &req->ctx;
	if (e->locked || !e->role || now >= e->exp ||
	    now - e->seen >= session_idle_timeout(e->role))
		return 0;
	memcpy(req->token_hash, e->hash, sizeof(e->hash));
	req->totp_enabled = e->totp_enabled;
	ctx->user_id = e->uid;
	ctx->role = e->role;
	ctx->session_id = e->sid;
	ctx->username = arena_strdup(&req->arena, e->username);
	return now - e->seen >= touch_every(e->role) ? -1 : 1;
}

int auth_resolve(struct request *req)
{
	struct atr_ctx *ctx = &req->ctx;
	const char *tok = auth_cookie_get(req, "atrium_session");
	const struct sess_entry *hit;
	struct sess_entry fresh, *slot;
	sqlite3_stmt *st;
	struct db *db;
	time_t now = time(NULL);
	const char *uname;
	char *long_name = NULL;
	int rc;

	if (!tok || strlen(tok) != TOKEN_STR_LEN - 1)
		return 0;
	db = ctx_db(ctx);
	if (!db)
		return -1;
	if ((hit = sess_lookup(tok)) && sess_apply(req, hit, now) >= 0)
		return 0;
	memset(&fresh, 0, sizeof(fresh));
	/* The stamp before the read (or of the snapshot it reads): a commit
	 * in between only makes the entry look stale sooner. */
	if (db_stamp(db, fresh.stamp))
		fresh.used = -1; /* no stamp: never cache */
	sha256_hex(tok, strlen(tok), fresh.hash);
	st = db_stmt(db,
		     "SELECT s.id, s.user_id, s.last_seen_at, s.expires_at, "
		     "u.role, u.username, u.locked, u.totp_enabled "
		     "FROM sessions s "
		     "JOIN users u ON u.id = s.user_id "
		     "WHERE s.token_hash = ? AND s.revoked = 0",
		     "s", fresh.hash);
	if (!st)
		return -1;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? 0 : -1;
	}
	fresh.sid = sqlite3_column_int64(st, 0);
	fresh.uid = sqlite3_column_int64(st, 1);
	fresh.seen = sqlite3_column_int64(st, 2);
	fresh.exp = sqlite3_column_int64(st, 3);
	fresh.role = role_parse((const char *)sqlite3_column_text(st, 4));
	uname = (const char *)sqlite3_column_text(st, 5);
	fresh.locked = sqlite3_column_int(st, 6);
	fresh.totp_enabled = sqlite3_column_int(st, 7);
	if (!uname)
		uname = "";
	if (strlen(uname) >= sizeof(fresh.username)) {
		fresh.used = -1; /* too long to cache; served uncached */
		long_name = arena_strdup(&req->arena, uname);
	}
	snprintf(fresh.username, sizeof(fresh.username), "%s", uname);
	sqlite3_reset(st);
	rc = sess_apply(req, &fresh, now);
	if (long_name && ctx->user_id)
		ctx->username = long_name;
	if (rc < 0) {
		/* In a transaction, so it takes the shared write connection
		 * and its group commit (see db.c) like every other write. */
		if (db_begin(db) == ATR_OK) {
			if (db_done(db_stmt(db,
					    "UPDATE sessions SET last_seen_at "
					    "= ? WHERE id = ?",
					    "ii", (long long)now,
					    ctx->session_id)) == ATR_OK)
				db_commit(db);
			else
				db_rollback(db);
		}
		return 0; /* the write changed the stamp: nothing to cache */
	}
	if (fresh.used == 0) {
		slot = sess_slot(tok);
		memcpy(fresh.token, tok, TOKEN_STR_LEN);
		fresh.used = 1;
		*slot = fresh;
	}
	return 0;
}

/* Does the Origin (or Referer) name this server? */
static int same_origin(struct request *req)
{
	const char *host = request_header(req, "Host");
	const char *origin = request_header(req, "Origin");
	const char *scheme = tls() ? "https://" : "http://";
	size_t sl = strlen(scheme), hl;

	if (!origin)
		origin = request_header(req, "Referer");
	if (!origin || !host)
		return 0;
	hl = strlen(host);
	if (g_cfg->base_url && *g_cfg->base_url) {
		size_t bl = strlen(g_cfg->base_url);
		while (bl && g_cfg->base_url[bl - 1] == '/')
			bl--;
		if (!strncmp(origin, g_cfg->base_url, bl) &&
		    (origin[bl] == '\0' || origin[bl] == '/'))
			return 1;
	}
	return !strncmp(origin, scheme, sl) &&
	       !strncasecmp(origin + sl, host, hl) &&
	       (origin[sl + hl] == '\0' || origin[sl + hl] == '/');
}

int auth_csrf_ok(struct request *req)
{
	struct atr_ctx *ctx = &req->ctx;
	const char *tok, *origin;
	char expected[TOKEN_STR_LEN];

	if (!ctx->user_id) {
		/* Anonymous unsafe requests (login, activation): a browser
		 * always sends Origin on them; a foreign one is refused. */
		origin = request_header(req, "Origin");
		return !origin || same_origin(req);
	}
	if (!same_origin(req))
		return 0;
	tok = request_header(req, "X-CSRF-Token");
	if (!tok || strlen(tok) != TOKEN_STR_LEN - 1 || !req->token_hash[0])
		return 0;
	/* The expected token derives from the session: no query needed. */
	csrf_for(req->token_hash, expected);
	return ct_equal(tok, expected);
}

int auth_must_enroll(struct atr_ctx *ctx)
{
	sqlite3_stmt *st;
	int enrolled = 1;
	if (!ctx->user_id || !auth_totp_required(ctx->role))
		return 0;
	if (ctx->req && ctx->req->token_hash[0] && ctx->req->totp_enabled)
		return 0; /* read with the session */
	st = db_stmt(ctx_db(ctx), "SELECT totp_enabled FROM users WHERE id = ?",
		     "i", ctx->user_id);
	if (st && sqlite3_step(st) == SQLITE_ROW)
		enrolled = sqlite3_column_int(st, 0);
	if (st)
		sqlite3_reset(st);
	return !enrolled;
}

int auth_route_allowed_now(struct request *req, const struct route *rt)
{
	if (!strncmp(rt->pattern, "/api/auth/", 10) ||
	    !strcmp(rt->pattern, "/api/ui/manifest"))
		return 1;
	return !auth_must_enroll(&req->ctx);
}

void auth_cookie_set(struct atr_ctx *ctx, const char *base, const char *value,
		     long long max_age)
{
	struct request *req = ctx->req;
	if (max_age < 0)
		max_age = 0;
	respond_header(req, "Set-Cookie",
		       arena_sprintf(&req->arena,
				     "%s=%s; Path=/; HttpOnly; "
				     "SameSite=Strict; Max-Age=%lld%s",
				     cookie_name(base), value, max_age,
				     tls() ? "; Secure" : ""));
}

int auth_init(struct db *db)
{
	unsigned char key[crypto_auth_hmacsha256_KEYBYTES];
	char hex[2 * sizeof(key) + 1];
	sqlite3_stmt *st;
	int found = 0;

	st = db_stmt(db, "SELECT value FROM core_secrets WHERE name = "
			 "'csrf_key'", "");
	if (st && sqlite3_step(st) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		size_t n = 0;
		found = v && !sodium_hex2bin(key, sizeof(key), v, strlen(v),
					     NULL, &n, NULL) &&
			n == sizeof(key);
	}
	if (st)
		sqlite3_reset(st);
	if (!found) {
		random_bytes(key, sizeof(key));
		sodium_bin2hex(hex, sizeof(hex), key, sizeof(key));
		if (db_done(db_stmt(db,
				    "INSERT OR REPLACE INTO core_secrets (name, "
				    "value) VALUES ('csrf_key', ?)",
				    "s", hex)) != ATR_OK)
			return -1;
		sodium_memzero(hex, sizeof(hex));
	}
	memcpy(csrf_key, key, sizeof(key));
	sodium_memzero(key, sizeof(key));
	return 0;
}

const char *session_csrf(struct atr_ctx *ctx)
{
	char csrf[TOKEN_STR_LEN];
	sqlite3_stmt *st;
	if (ctx->req && ctx->req->token_hash[0]) {
		csrf_for(ctx->req->token_hash, csrf);
		return arena_strdup(ctx->arena, csrf);
	}
	st = db_stmt(ctx_db(ctx),
				   "SELECT token_hash FROM sessions WHERE id = ?",
				   "i", ctx->session_id);
	const char *out = NULL;
	if (st && sqlite3_step(st) == SQLITE_ROW) {
		csrf_for((const char *)sqlite3_column_text(st, 0), csrf);
		out = arena_strdup(ctx->arena, csrf);
	}
	if (st)
		sqlite3_reset(st);
	return out;
}

const char *session_create(struct atr_ctx *ctx, long long user_id)
{
	char tok[TOKEN_STR_LEN], csrf[TOKEN_STR_LEN], th[65], ch[65];
	struct request *req = ctx->req;
	const char *ua = request_header(req, "User-Agent");
	long long now = (long long)time(NULL);

	token_new(tok);
	sha256_hex(tok, strlen(tok), th);
	csrf_for(th, csrf);
	sha256_hex(csrf, strlen(csrf), ch);
	if (db_done(db_stmt(ctx_db(ctx),
			    "INSERT INTO sessions (token_hash, csrf_hash, "
			    "user_id, created_at, last_seen_at, expires_at, "
			    "client, user_agent) VALUES (?,?,?,?,?,?,?,?)",
			    "ssiiiiss", th, ch, user_id, now, now,
			    now + g_cfg->absolute_timeout, request_client(req),
			    ua ? arena_strndup(&req->arena, ua, 200) : NULL)) !=
	    ATR_OK)
		return NULL;
	ctx->session_id = sqlite3_last_insert_rowid(db_handle(ctx_db(ctx)));
	auth_cookie_set(ctx, "atrium_session", tok, g_cfg->absolute_timeout);
	/* Now and then, forget sessions that ended over a week ago. */
	if (randombytes_uniform(64) == 0)
		db_done(db_stmt(ctx_db(ctx),
				"DELETE FROM sessions WHERE expires_at < ? OR "
				"(revoked = 1 AND last_seen_at < ?)",
				"ii", now - 7 * 86400, now - 7 * 86400));
	return arena_strdup(&req->arena, csrf);
}

const char *session_rotate(struct atr_ctx *ctx)
{
	char tok[TOKEN_STR_LEN], csrf[TOKEN_STR_LEN], th[65], ch[65];
	struct db *db = ctx_db(ctx);
	long long now = (long long)time(NULL), exp = 0;
	sqlite3_stmt *st;

	st = db_stmt(db, "SELECT expires_at FROM sessions WHERE id = ?", "i",
		     ctx->session_id);
	if (st && sqlite3_step(st) == SQLITE_ROW)
		exp = sqlite3_column_int64(st, 0);
	if (st)
		sqlite3_reset(st);
	if (exp <= now)
		return NULL;
	token_new(tok);
	sha256_hex(tok, strlen(tok), th);
	csrf_for(th, csrf);
	sha256_hex(csrf, strlen(csrf), ch);
	if (db_done(
		db_stmt(db,
			"UPDATE sessions SET token_hash = ?, csrf_hash = ?, "
			"last_seen_at = ? WHERE id = ? AND revoked = 0",
			"ssii", th, ch, now, ctx->session_id)) != ATR_OK ||
	    sqlite3_changes(db_handle(db)) != 1)
		return NULL;
	auth_cookie_set(ctx, "atrium_session", tok, exp - now);
	return arena_strdup(&ctx->req->arena, csrf);
}

int session_revoke(struct atr_ctx *ctx, long long user_id, long long session_id)
{
	sqlite3_stmt *st =
	    db_stmt(ctx_db(ctx),
		    "UPDATE sessions SET revoked = 1 WHERE id = ? "
		    "AND user_id = ? AND revoked = 0",
		    "ii", session_id, user_id);
	int rc = db_done(st);
	if (rc != ATR_OK)
		return rc;
	return sqlite3_changes(db_handle(ctx_db(ctx))) ? ATR_OK : ATR_ENOTFOUND;
}

int session_revoke_all(struct atr_ctx *ctx, long long user_id, long long keep)
{
	return db_done(db_stmt(ctx_db(ctx),
			       "UPDATE sessions SET revoked = 1 WHERE "
			       "user_id = ? AND id != ? AND revoked = 0",
			       "ii", user_id, keep));
}

void session_clear_cookie(struct atr_ctx *ctx)
{
	auth_cookie_set(ctx, "atrium_session", "", 0);
}
