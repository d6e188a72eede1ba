/*
 * identity_throttle.c - the delay that follows failed attempts (sign-in,
 * re-entering a password, activation codes), and device cookies.
 *
 * Failures are counted per key in login_throttle, whether or not an
 * account exists behind the key, so a 429 says nothing about existence.
 * The delay doubles from 1 s after g_cfg->lockout_threshold failures and
 * stops growing at 15 minutes; while it runs, attempts are refused without
 * being counted. A browser that signed in to an account before has a device
 * cookie (login_devices) and is throttled on its own counter instead, so a
 * stranger who keeps failing on a name cannot keep its owner out.
 *
 * Not the place for the sign-in logic itself (identity_login.c).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "auth.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "identity_int.h"

#define DELAY_CAP_MS 900000LL /* 15 minutes */
#define FORGET_AFTER 86400    /* failures older than this are dropped */
#define DEVICE_LIFETIME (180LL * 86400)

void throttle_key(char out[THROTTLE_KEY_MAX], const char *kind,
		  const char *value)
{
	size_t n = (size_t)snprintf(out, THROTTLE_KEY_MAX, "%s:", kind);
	for (const char *p = value ? value : ""; *p && n + 1 < THROTTLE_KEY_MAX;
	     p++)
		out[n++] = (char)tolower((unsigned char)*p);
	out[n] = '\0';
}

/* throttled_until in login_throttle and login_devices is in epoch
 * milliseconds: with whole seconds a 1 s delay set late in a second would
 * end a moment later. */
static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long delay_ms(long long failures)
{
	long long over = failures - g_cfg->lockout_threshold;
	if (over < 0)
		return 0;
	return over >= 10 ? DELAY_CAP_MS : 1000LL << over;
}

/* Whole seconds from now until `until` (ms), rounded up; 0 when past. */
static long long seconds_left(long long until)
{
	long long now = now_ms();
	return until > now ? (until - now + 999) / 1000 : 0;
}

long long throttle_wait(struct db *db, const char *key)
{
	long long until = 0;
	sqlite3_stmt *st = db_stmt(
	    db, "SELECT throttled_until FROM login_throttle WHERE key = ?", "s",
	    key);
	if (st && sqlite3_step(st) == SQLITE_ROW)
		until = sqlite3_column_int64(st, 0);
	if (st)
		sqlite3_reset(st);
	return seconds_left(until);
}

void throttle_fail(struct db *db, const char *key)
{
	long long now = (long long)time(NULL), failures = 1;
	sqlite3_stmt *st;

	st = db_stmt(db,
		     "SELECT failures, last_failure_at FROM login_throttle "
		     "WHERE key = ?",
		     "s", key);
	if (st && sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_int64(st, 1) > now - FORGET_AFTER)
		failures = sqlite3_column_int64(st, 0) + 1;
	if (st)
		sqlite3_reset(st);
	db_done(db_stmt(db,
			"INSERT INTO login_throttle (key, failures, "
			"throttled_until, last_failure_at) VALUES (?, ?, ?, ?) "
			"ON CONFLICT (key) DO UPDATE SET failures = "
			"excluded.failures, throttled_until = "
			"excluded.throttled_until, last_failure_at = "
			"excluded.last_failure_at",
			"siii", key, failures, now_ms() + delay_ms(failures),
			now));
	/* Keys for names nobody owns would pile up: now and then, drop the
	 * ones that have nothing left to say. */
	if (randombytes_uniform(64) == 0)
		db_done(db_stmt(db,
				"DELETE FROM login_throttle WHERE "
				"last_failure_at < ? AND throttled_until < ?",
				"ii", now - FORGET_AFTER, now * 1000));
}

void throttle_clear(struct db *db, const char *key)
{
	db_done(
	    db_stmt(db, "DELETE FROM login_throttle WHERE key = ?", "s", key));
}

int throttle_respond(struct atr_ctx *ctx, long long wait)
{
	struct request *req = ctx->req;
	char *ra = arena_sprintf(ctx->arena, "%lld", wait);
	respond_header(req, "Retry-After", ra);
	return respond_error(req, 429, "too_many_attempts",
			     "too many attempts; try again in %lld seconds",
			     wait);
}

/* ---- device cookies ---------------------------------------------------- */

long long device_find(struct atr_ctx *ctx, long long user_id, long long *wait)
{
	const char *tok = auth_cookie_get(ctx->req, "atrium_device");
	long long now = (long long)time(NULL), id = 0, until = 0;
	char hash[65];
	sqlite3_stmt *st;

	*wait = 0;
	if (!user_id || !tok || strlen(tok) != TOKEN_STR_LEN - 1)
		return 0;
	sha256_hex(tok, strlen(tok), hash);
	st = db_stmt(ctx_db(ctx),
		     "SELECT id, throttled_until FROM login_devices WHERE "
		     "token_hash = ? AND user_id = ? AND created_at > ?",
		     "sii", hash, user_id, now - DEVICE_LIFETIME);
	if (st && sqlite3_step(st) == SQLITE_ROW) {
		id = sqlite3_column_int64(st, 0);
		until = sqlite3_column_int64(st, 1);
	}
	if (st)
		sqlite3_reset(st);
	*wait = seconds_left(until);
	return id;
}

void device_fail(struct db *db, long long device_id)
{
	long long failures = 0;
	sqlite3_stmt *st =
	    db_stmt(db, "SELECT failures FROM login_devices WHERE id = ?", "i",
		    device_id);
	if (st && sqlite3_step(st) == SQLITE_ROW)
		failures = sqlite3_column_int64(st, 0);
	if (st)
		sqlite3_reset(st);
	failures++;
	db_done(db_stmt(db,
			"UPDATE login_devices SET failures = ?, "
			"throttled_until = ? WHERE id = ?",
			"iii", failures, now_ms() + delay_ms(failures),
			device_id));
}

void device_remember(struct atr_ctx *ctx, long long user_id,
		     long long device_id)
{
	struct db *db = ctx_db(ctx);
	long long now = (long long)time(NULL);
	char tok[TOKEN_STR_LEN], hash[65];
	int rc;

	token_new(tok);
	sha256_hex(tok, strlen(tok), hash);
	if (device_id)
		rc = db_done(db_stmt(db,
				     "UPDATE login_devices SET token_hash = ?, "
				     "failures = 0, throttled_until = 0, "
				     "created_at = ?, last_used_at = ? "
				     "WHERE id = ?",
				     "siii", hash, now, now, device_id));
	else
		rc = db_done(db_stmt(db,
				     "INSERT INTO login_devices (token_hash, "
				     "user_id, created_at, last_used_at) "
				     "VALUES (?, ?, ?, ?)",
				     "siii", hash, user_id, now, now));
	if (rc == ATR_OK)
		auth_cookie_set(ctx, "atrium_device", tok, DEVICE_LIFETIME);
	if (randombytes_uniform(64) == 0)
		db_done(db_stmt(
		    db, "DELETE FROM login_devices WHERE created_at < ?", "i",
		    now - DEVICE_LIFETIME));
	sodium_memzero(tok, sizeof(tok));
}
