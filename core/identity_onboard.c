/*
 * identity_onboard.c - how patients get an account. The care team (or an
 * admin) creates the patient record and hands the patient a one-time
 * activation code (POST /api/admin/patients, POST /api/admin/users/:id/
 * activation-code); the patient turns it into a username and password
 * (POST /api/auth/activate). When [auth] self_registration is on, patients
 * may also sign up themselves (POST /api/auth/register). The care team's
 * patient search (GET /api/patients) is here too.
 *
 * Activation codes are 16 symbols of Crockford's base32 (80 bits) shown as
 * four dash-separated groups of four; only the SHA-256 of the normalised code is stored.
 * A code is single use, expires after activation_ttl_hours and is voided
 * when a newer one is issued. Wrong codes are throttled per client address
 * and all get the same 400.
 *
 * Staff, physician and admin accounts are created in identity_admin.c.
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

#define CODE_SYMBOLS 16
#define SEARCH_MAX 100

static const char code_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static void activation_code_new(char out[ACTIVATION_CODE_LEN])
{
	size_t o = 0;
	for (int i = 0; i < CODE_SYMBOLS; i++) {
		if (i && i % 4 == 0)
			out[o++] = '-';
		out[o++] = code_alphabet[randombytes_uniform(32)];
	}
	out[o] = '\0';
}

/* As typed: case, dashes and spaces do not matter; O reads as 0, I and L
 * as 1. Returns 0 with 16 symbols in out, or -1. */
static int activation_code_normalise(const char *in,
				     char out[ACTIVATION_CODE_LEN])
{
	size_t n = 0;
	for (; *in; in++) {
		char c = *in;
		if (c == '-' || c == ' ')
			continue;
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c == 'O')
			c = '0';
		else if (c == 'I' || c == 'L')
			c = '1';
		if (!strchr(code_alphabet, c) || c == '\0' || n == CODE_SYMBOLS)
			return -1;
		out[n++] = c;
	}
	out[n] = '\0';
	return n == CODE_SYMBOLS ? 0 : -1;
}

static void code_hash(const char *code, char hex[65])
{
	char norm[ACTIVATION_CODE_LEN];
	if (activation_code_normalise(code, norm))
		norm[0] = '\0';
	sha256_hex(norm, strlen(norm), hex);
	sodium_memzero(norm, sizeof(norm));
}

/* A new code for patient_id, voiding earlier unused ones; inside the
 * caller's transaction. */
static int issue_code(struct atr_ctx *ctx, long long patient_id,
		      char code[ACTIVATION_CODE_LEN], long long *expires)
{
	struct db *db = ctx_db(ctx);
	long long now = (long long)time(NULL);
	char hex[65];

	*expires = now + (long long)g_cfg->activation_ttl_hours * 3600;
	activation_code_new(code);
	code_hash(code, hex);
	if (db_done(
		db_stmt(db,
			"UPDATE activation_codes SET expires_at = ? WHERE "
			"user_id = ? AND used_at IS NULL AND expires_at > ?",
			"iii", now - 1, patient_id, now - 1)) != ATR_OK)
		return ATR_ERR;
	return db_done(db_stmt(db,
			       "INSERT INTO activation_codes (code_hash, "
			       "user_id, created_by, expires_at) VALUES "
			       "(?, ?, ?, ?)",
			       "siii", hex, patient_id, ctx->user_id,
			       *expires));
}

static void emit_created(struct atr_ctx *ctx, long long id)
{
	json_t *p = json_pack("{s:I,s:s}", "user_id", id, "role", "patient");
	const char *reason = NULL;
	events_emit(ctx, "user.created", p, &reason);
	json_decref(p);
}

/* ---- care team: create a patient, issue a code, search ----------------- */

int idh_patient_create(struct atr_ctx *ctx)
{
	static const struct atr_field fields[] = {
	    {"display_name", ATR_F_STRING, 1, DISPLAY_NAME_MAX},
	    {"email", ATR_F_STRING, 0, EMAIL_MAX},
	    {"date_of_birth", ATR_F_STRING, 0, 10},
	    {NULL, 0, 0, 0},
	};
	json_t *body = atr_host_api.req_json(ctx, fields);
	struct db *db = ctx_db(ctx);
	const char *name, *email, *dob;
	char code[ACTIVATION_CODE_LEN], oid[32];
	long long id, expires;

	if (!body)
		return ATR_ERESPONDED;
	name = json_string_value(json_object_get(body, "display_name"));
	email = json_string_value(json_object_get(body, "email"));
	dob = json_string_value(json_object_get(body, "date_of_birth"));
	if (!identity_text_ok(name, DISPLAY_NAME_MAX))
		return identity_bad_field(ctx, "display_name", "bad_request",
					  "the name must be 1-200 bytes of "
					  "text");
	if (email && *email && !identity_email_ok(email))
		return identity_bad_field(ctx, "email", "bad_request",
					  "the e-mail address is not valid");
	if (dob && *dob && !identity_date_ok(dob))
		return identity_bad_field(ctx, "date_of_birth", "bad_request",
					  "the date of birth must be a past "
					  "date as YYYY-MM-DD");
	if (db_begin(db) != ATR_OK)
		goto fail;
	if (db_done(db_stmt(db,
			    "INSERT INTO users (display_name, role, email, "
			    "date_of_birth) VALUES (?, 'patient', ?, ?)",
			    "sss", name, email && *email ? email : NULL,
			    dob && *dob ? dob : NULL)) != ATR_OK)
		goto fail;
	id = sqlite3_last_insert_rowid(db_handle(db));
	snprintf(oid, sizeof(oid), "%lld", id);
	if (issue_code(ctx, id, code, &expires) != ATR_OK ||
	    audit_ctx(ctx, "account.create", id, "user", oid, "ok") != ATR_OK ||
	    db_commit(db) != ATR_OK)
		goto fail;
	emit_created(ctx, id);
	return respond_json(ctx->req, 201,
			    json_pack("{s:{s:I,s:s},s:s,s:s}", "patient", "id",
				      id, "display_name", name,
				      "activation_code", code, "expires_at",
				      identity_time(ctx, expires)));
fail:
	db_rollback(db);
	ctx->audited = 0; /* the row went with the rollback */
	return respond_error(ctx->req, 503, "unavailable",
			     "the patient could not be created; try again");
}

int idh_activation_code(struct atr_ctx *ctx)
{
	static const struct atr_field fields[] = {{NULL, 0, 0, 0}};
	long long id = identity_param_id(ctx, "id"), expires;
	struct db *db = ctx_db(ctx);
	char code[ACTIVATION_CODE_LEN], oid[32];
	int found = 0, activated = 0;
	sqlite3_stmt *st;

	if (ctx->req->body_len && !atr_host_api.req_json(ctx, fields))
		return ATR_ERESPONDED;
	st = db_stmt(db,
		     "SELECT username IS NOT NULL FROM users WHERE id = ? AND "
		     "role = 'patient'",
		     "i", id);
	if (st && sqlite3_step(st) == SQLITE_ROW) {
		found = 1;
		activated = sqlite3_column_int(st, 0);
	}
	if (st)
		sqlite3_reset(st);
	if (!found)
		return respond_error(ctx->req, 404, "not_found",
				     "no such patient");
	ctx->audit_patient = id;
	if (activated)
		return respond_error(ctx->req, 409, "already_activated",
				     "this patient has already activated "
				     "their account");
	snprintf(oid, sizeof(oid), "%lld", id);
	if (db_begin(db) != ATR_OK || issue_code(ctx, id, code, &expires) ||
	    audit_ctx(ctx, "account.activation_code", id, "user", oid, "ok") !=
		ATR_OK ||
	    db_commit(db) != ATR_OK) {
		db_rollback(db);
		ctx->audited = 0;
		return respond_error(ctx->req, 503, "unavailable",
				     "no code could be issued; try again");
	}
	return respond_json(ctx->req, 201,
			    json_pack("{s:s,s:s}", "activation_code", code,
				      "expires_at",
				      identity_time(ctx, expires)));
}

int idh_patients(struct atr_ctx *ctx)
{
	const char *q = request_query(ctx->req, "q");
	json_t *params, *rows;
	char *like;

	if (!q)
		q = "";
	if (strlen(q) > SEARCH_MAX || (*q && !identity_text_ok(q, SEARCH_MAX)))
		return respond_error(ctx->req, 400, "bad_request",
				     "the search text must be at most 100 "
				     "bytes of text");
	like = identity_like(ctx, q);
	if (!like)
		return ATR_ENOMEM;
	params = json_pack("[s,s,s]", q, like, like);
	rows = db_query(ctx_db(ctx),
			"SELECT id, display_name, date_of_birth FROM users "
			"WHERE role = 'patient' AND (? = '' OR display_name "
			"LIKE ? ESCAPE '\\' OR email LIKE ? ESCAPE '\\') "
			"ORDER BY display_name COLLATE NOCASE, id LIMIT 100",
			params);
	json_decref(params);
	if (!rows)
		return respond_error(ctx->req, 503, "unavailable",
				     "patients cannot be listed right now");
	audit_ctx(ctx, "patients.search", 0, "patients", *q ? q : NULL, "ok");
	return respond_json(ctx->req, 200,
			    json_pack("{s:o}", "patients", rows));
}

/* ---- the patient: activation -------------------------------------------- */

struct activation {
	long long code_id, user_id;
	char username[USERNAME_MAX + 1];
};

static int invalid_code(struct atr_ctx *ctx)
{
	return respond_error(ctx->req, 400, "invalid_code",
			     "the activation code is not valid or has "
			     "expired");
}

static void anon_audit(struct atr_ctx *ctx, const char *action,
		       long long user_id, const char *username,
		       const char *outcome)
{
	audit_write(ctx_db(ctx),
		    &(struct audit_rec){.user_id = user_id,
					.username = username,
					.role = user_id ? "patient" : NULL,
					.action = action,
					.patient_id = user_id,
					.client = request_client(ctx->req),
					.outcome = outcome});
}

static void activate_finish(struct atr_ctx *ctx, void *arg)
{
	struct idjob *j = arg;
	struct activation *a = j->data;
	struct db *db = ctx_db(ctx);
	long long now = (long long)time(NULL);
	json_t *user;
	int rc;

	if (j->why) {
		identity_bad_field(ctx, "password", "weak_password", j->why);
		return;
	}
	if (j->failed || db_begin(db) != ATR_OK)
		goto fail;
	if (db_done(db_stmt(db,
			    "UPDATE activation_codes SET used_at = ? WHERE id "
			    "= ? AND used_at IS NULL AND expires_at > ?",
			    "iii", now, a->code_id, now)) != ATR_OK)
		goto fail;
	if (sqlite3_changes(db_handle(db)) != 1) {
		db_rollback(db);
		invalid_code(ctx);
		return;
	}
	rc =
	    db_done(db_stmt(db,
			    "UPDATE users SET username = ?, password_hash = ?, "
			    "updated_at = strftime('%Y-%m-%dT%H:%M:%SZ','now') "
			    "WHERE id = ? AND username IS NULL",
			    "ssi", a->username, j->new_hash, a->user_id));
	sodium_memzero(j->new_hash, sizeof(j->new_hash));
	if (rc == ATR_ECONFLICT) {
		db_rollback(db);
		identity_taken_409(ctx);
		return;
	}
	if (rc != ATR_OK)
		goto fail;
	if (sqlite3_changes(db_handle(db)) != 1) {
		db_rollback(db);
		invalid_code(ctx);
		return;
	}
	anon_audit(ctx, "account.activate", a->user_id, a->username, "ok");
	if (db_commit(db) != ATR_OK)
		goto fail;
	user = identity_user_json(ctx, a->user_id);
	respond_json(ctx->req, 201,
		     json_pack("{s:o}", "user", user ? user : json_null()));
	return;
fail:
	db_rollback(db);
	sodium_memzero(j->new_hash, sizeof(j->new_hash));
	respond_error(ctx->req, 503, "unavailable",
		      "the account could not be activated; try again");
}

int idh_activate(struct atr_ctx *ctx)
{
	static const struct atr_field fields[] = {
	    {"code", ATR_F_STRING, 1, 64},
	    {"username", ATR_F_STRING, 1, 256},
	    {"password", ATR_F_STRING, 1, PASSWORD_MAX},
	    {NULL, 0, 0, 0},
	};
	json_t *body = atr_host_api.req_json(ctx, fields);
	struct db *db = ctx_db(ctx);
	char key[THROTTLE_KEY_MAX], hex[65];
	long long now = (long long)time(NULL), wait;
	struct activation *a;
	struct idjob *j;
	const char *code, *u;
	sqlite3_stmt *st;

	if (!body)
		return ATR_ERESPONDED;
	j = idjob_new(ctx);
	a = arena_alloc(ctx->arena, sizeof(*a));
	if (!j || !a)
		return ATR_ENOMEM;
	j->data = a;
	j->password = idjob_take(ctx, body, "password", &j->pwlen);
	if (!j->password)
		return ATR_ENOMEM;
	code = json_string_value(json_object_get(body, "code"));
	u = json_string_value(json_object_get(body, "username"));
	if (!identity_username_ok(u)) {
		idjob_wipe(j);
		return identity_bad_field(ctx, "username", "bad_request",
					  "a username is 3-64 letters, digits "
					  "or . _ - @");
	}
	throttle_key(key, "activate", request_client(ctx->req));
	if ((wait = throttle_wait(db, key)) > 0) {
		idjob_wipe(j);
		return throttle_respond(ctx, wait);
	}
	code_hash(code, hex);
	st =
	    db_stmt(db,
		    "SELECT a.id, a.user_id FROM activation_codes a JOIN users "
		    "u ON u.id = a.user_id WHERE a.code_hash = ? AND "
		    "a.used_at IS NULL AND a.expires_at > ? AND u.role = "
		    "'patient' AND u.username IS NULL AND u.locked = 0",
		    "si", hex, now);
	if (st && sqlite3_step(st) == SQLITE_ROW) {
		a->code_id = sqlite3_column_int64(st, 0);
		a->user_id = sqlite3_column_int64(st, 1);
	}
	if (st)
		sqlite3_reset(st);
	if (!a->code_id) {
		idjob_wipe(j);
		throttle_fail(db, key);
		anon_audit(ctx, "account.activate", 0, NULL, "bad_code");
		return invalid_code(ctx);
	}
	if (identity_username_taken(ctx, u)) {
		idjob_wipe(j);
		return identity_taken_409(ctx);
	}
	snprintf(a->username, sizeof(a->username), "%s", u);
	snprintf(j->username, sizeof(j->username), "%s", u);
	return idjob_start(ctx, j, activate_finish);
}

/* ---- the patient: self-registration ------------------------------------- */

struct registration {
	char username[USERNAME_MAX + 1];
	const char *display_name, *email;
	char key[THROTTLE_KEY_MAX];
};

static void register_finish(struct atr_ctx *ctx, void *arg)
{
	struct idjob *j = arg;
	struct registration *r = j->data;
	struct db *db = ctx_db(ctx);
	long long id;
	json_t *user;
	int rc;

	if (j->why) {
		identity_bad_field(ctx, "password", "weak_password", j->why);
		return;
	}
	if (j->failed || db_begin(db) != ATR_OK)
		goto fail;
	rc = db_done(db_stmt(db,
			     "INSERT INTO users (username, display_name, role, "
			     "password_hash, email) VALUES (?, ?, 'patient', "
			     "?, ?)",
			     "ssss", r->username, r->display_name, j->new_hash,
			     r->email));
	sodium_memzero(j->new_hash, sizeof(j->new_hash));
	if (rc == ATR_ECONFLICT) {
		db_rollback(db);
		throttle_fail(db, r->key);
		identity_taken_409(ctx);
		return;
	}
	if (rc != ATR_OK)
		goto fail;
	id = sqlite3_last_insert_rowid(db_handle(db));
	anon_audit(ctx, "account.register", id, r->username, "ok");
	if (db_commit(db) != ATR_OK)
		goto fail;
	emit_created(ctx, id);
	user = identity_user_json(ctx, id);
	respond_json(ctx->req, 201,
		     json_pack("{s:o}", "user", user ? user : json_null()));
	return;
fail:
	db_rollback(db);
	sodium_memzero(j->new_hash, sizeof(j->new_hash));
	respond_error(ctx->req, 503, "unavailable",
		      "the account could not be created; try again");
}

int idh_register(struct atr_ctx *ctx)
{
	static const struct atr_field fields[] = {
	    {"username", ATR_F_STRING, 1, 256},
	    {"password", ATR_F_STRING, 1, PASSWORD_MAX},
	    {"display_name", ATR_F_STRING, 1, DISPLAY_NAME_MAX},
	    {"email", ATR_F_STRING, 0, EMAIL_MAX},
	    {NULL, 0, 0, 0},
	};
	struct registration *r;
	struct idjob *j;
	json_t *body;
	const char *u;
	long long wait;

	/* Switched off, the route does not exist as far as anyone can
	 * tell: the router's own 404. */
	if (!g_cfg->self_registration)
		return respond_error(ctx->req, 404, "not_found",
				     "no such resource");
	body = atr_host_api.req_json(ctx, fields);
	if (!body)
		return ATR_ERESPONDED;
	j = idjob_new(ctx);
	r = arena_alloc(ctx->arena, sizeof(*r));
	if (!j || !r)
		return ATR_ENOMEM;
	j->data = r;
	j->password = idjob_take(ctx, body, "password", &j->pwlen);
	if (!j->password)
		return ATR_ENOMEM;
	u = json_string_value(json_object_get(body, "username"));
	r->display_name =
	    json_string_value(json_object_get(body, "display_name"));
	r->email = json_string_value(json_object_get(body, "email"));
	if (r->email && !*r->email)
		r->email = NULL;
	if (!identity_username_ok(u) ||
	    !identity_text_ok(r->display_name, DISPLAY_NAME_MAX) ||
	    (r->email && !identity_email_ok(r->email))) {
		idjob_wipe(j);
		if (!identity_username_ok(u))
			return identity_bad_field(
			    ctx, "username", "bad_request",
			    "a username is 3-64 letters, digits or . _ - @");
		if (!identity_text_ok(r->display_name, DISPLAY_NAME_MAX))
			return identity_bad_field(
			    ctx, "display_name", "bad_request",
			    "the name must be 1-200 bytes of text");
		return identity_bad_field(ctx, "email", "bad_request",
					  "the e-mail address is not valid");
	}
	throttle_key(r->key, "register", request_client(ctx->req));
	if ((wait = throttle_wait(ctx_db(ctx), r->key)) > 0) {
		idjob_wipe(j);
		return throttle_respond(ctx, wait);
	}
	if (identity_username_taken(ctx, u)) {
		idjob_wipe(j);
		throttle_fail(ctx_db(ctx), r->key);
		return identity_taken_409(ctx);
	}
	snprintf(r->username, sizeof(r->username), "%s", u);
	snprintf(j->username, sizeof(j->username), "%s", u);
	return idjob_start(ctx, j, register_finish);
}
