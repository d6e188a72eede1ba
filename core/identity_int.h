/*
 * identity_int.h - what the identity_*.c files share: the route handlers
 * (registered from identity.c's table), the attempt throttle, the offloaded
 * password job and small input checks. Internal to the identity files; not
 * part of the core's interface to anyone else (that is identity.h).
 *
 * Threads: everything here runs on a request worker except
 * idjob_work(), which runs on the offload pool and touches no database.
 */
#ifndef ATRIUM_IDENTITY_INT_H
#define ATRIUM_IDENTITY_INT_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "crypto.h"
#include "request.h"

struct db;

#define USERNAME_MAX 64
#define DISPLAY_NAME_MAX 200
#define EMAIL_MAX 254
/* Longest password accepted in a request (the policy caps new ones at 128
 * code points; a UTF-8 code point is at most 4 bytes). */
#define PASSWORD_MAX 1024
/* Longest throttle key: "user:" and a login name of up to 256 bytes. */
#define THROTTLE_KEY_MAX 320
/* Activation codes: 16 symbols shown as four dash-separated groups of four. */
#define ACTIVATION_CODE_LEN 20

/* ---- route handlers --------------------------------------------------- */

int idh_login(struct atr_ctx *ctx);
int idh_logout(struct atr_ctx *ctx);
int idh_me(struct atr_ctx *ctx);
int idh_sessions(struct atr_ctx *ctx);
int idh_session_delete(struct atr_ctx *ctx);
int idh_password(struct atr_ctx *ctx);
int idh_totp_enroll(struct atr_ctx *ctx);
int idh_totp_confirm(struct atr_ctx *ctx);
int idh_totp_disable(struct atr_ctx *ctx);
int idh_activate(struct atr_ctx *ctx);
int idh_register(struct atr_ctx *ctx);
int idh_admin_users(struct atr_ctx *ctx);
int idh_admin_user_create(struct atr_ctx *ctx);
int idh_admin_lock(struct atr_ctx *ctx);
int idh_admin_unlock(struct atr_ctx *ctx);
int idh_admin_reset_totp(struct atr_ctx *ctx);
int idh_patient_create(struct atr_ctx *ctx);
int idh_activation_code(struct atr_ctx *ctx);
int idh_patients(struct atr_ctx *ctx);

/* ---- attempt throttle (identity_throttle.c) ---------------------------- */

/* Throttle keys: "user:" + the login name lowercased (ASCII; the same for
 * names with and without an account), "reauth:<user id>", "activate:" and
 * "register:" + the client address. out holds THROTTLE_KEY_MAX bytes. */
void throttle_key(char out[THROTTLE_KEY_MAX], const char *kind,
		  const char *value);
/* Seconds until the key may try again (0 = now). */
long long throttle_wait(struct db *db, const char *key);
/* Count a failure: after g_cfg->lockout_threshold failures each one sets a
 * delay of 1, 2, 4 ... seconds, capped at 15 minutes. Failures older than
 * a day are forgotten. */
void throttle_fail(struct db *db, const char *key);
void throttle_clear(struct db *db, const char *key);
/* The 429 with Retry-After for `wait` seconds. */
int throttle_respond(struct atr_ctx *ctx, long long wait);

/* Device cookies: a browser that signed in to an account before carries a
 * token naming (account, browser). Its attempts on that account are
 * throttled on the device's own counter instead of the account name's, so
 * a stranger hammering the name does not lock the owner out. */
/* The device row for the request's cookie and this user, or 0; *wait gets
 * the device's remaining delay. */
long long device_find(struct atr_ctx *ctx, long long user_id, long long *wait);
void device_fail(struct db *db, long long device_id);
/* After a successful sign-in: a new token for this browser (the row is
 * reused when device_id != 0), set as a cookie. */
void device_remember(struct atr_ctx *ctx, long long user_id,
		     long long device_id);

/* ---- offloaded password work (identity.c) ------------------------------ */

/* One job for the offload pool: verify `current` against `hash` (when
 * current is set; an empty hash costs a dummy verify and fails), then, when
 * that passed or was not asked, check `password` against the policy and
 * hash it into new_hash. Both buffers are wiped by the work. */
struct idjob {
	char *current;
	size_t curlen;
	char hash[PW_HASH_MAX];
	char *password;
	size_t pwlen;
	char username[USERNAME_MAX + 1]; /* for the policy check */
	int verified;			 /* out: current matched */
	const char *why;		 /* out: policy refusal */
	int failed;			 /* out: hashing failed */
	char new_hash[PW_HASH_MAX];	 /* out */
	void *data;			 /* the handler's own state */
};

/* A new job in the request arena, NULL when memory runs out. */
struct idjob *idjob_new(struct atr_ctx *ctx);
/* Copies the string field of the parsed body into the arena and wipes the
 * original and the raw request body. NULL when absent. */
char *idjob_take(struct atr_ctx *ctx, json_t *body, const char *field,
		 size_t *len);
/* Hands the job to the pool; on a full queue wipes it and answers 503 with
 * Retry-After. Returns ATR_OK either way (the response is settled). */
int idjob_start(struct atr_ctx *ctx, struct idjob *job, continue_fn cont);
void idjob_wipe(struct idjob *job);

/* ---- small shared helpers (identity.c) --------------------------------- */

/* 3-64 of [a-z0-9._-@], starting with a letter or digit. */
int identity_username_ok(const char *u);
/* 1 when s is 1..max bytes of valid UTF-8 without control characters. */
int identity_text_ok(const char *s, size_t max);
/* A plausible e-mail address: one @, no spaces or controls, a dot in the
 * domain, at most EMAIL_MAX bytes. */
int identity_email_ok(const char *s);
/* A real calendar date YYYY-MM-DD between 1900-01-01 and today. */
int identity_date_ok(const char *s);
/* Parses a positive decimal id path parameter; 0 when malformed. */
long long identity_param_id(struct atr_ctx *ctx, const char *name);
/* The admin view of an account: {"id","username","display_name","role",
 * "locked","totp_enabled","activated","created_at"}; NULL when absent. */
json_t *identity_admin_user_json(struct atr_ctx *ctx, long long user_id);
/* 1 when an account already has this username (any case). */
int identity_username_taken(struct atr_ctx *ctx, const char *u);
/* The 409 for a taken username. */
int identity_taken_409(struct atr_ctx *ctx);
/* The shared 400 for a field. */
int identity_bad_field(struct atr_ctx *ctx, const char *field, const char *code,
		       const char *msg);
/* An account-change audit row about user `target` (object user, id). */
void identity_audit_account(struct atr_ctx *ctx, const char *action,
			    long long target, const char *outcome);
/* "%q%" for LIKE ... ESCAPE with backslash, q's own % _ and backslashes
 * escaped; in the arena, NULL when memory runs out. */
char *identity_like(struct atr_ctx *ctx, const char *q);
/* RFC 3339 text of epoch seconds, in the arena. */
const char *identity_time(struct atr_ctx *ctx, long long t);

#endif
