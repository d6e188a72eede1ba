/*
 * identity_admin.c - account administration for ATR_ROLE_ADMIN: search
 * accounts, create physician/staff/admin accounts (patients are invited
 * with activation codes, identity_onboard.c), lock and unlock accounts and
 * reset their two-step sign-in. Locking and resetting end the account's
 * sessions; unlocking also clears its sign-in delays. Every change is an
 * audit row; no route here shows clinical data.
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "audit.h"
#include "auth.h"
#include "db.h"
#include "identity.h"
#include "identity_int.h"

#define SEARCH_MAX 100

int idh_admin_users(struct atr_ctx *ctx)
{
	const char *q = request_query(ctx->req, "q");
	const char *role = request_query(ctx->req, "role");
	json_t *params, *rows, *row;
	char *like;
	size_t i;

	if (!q)
		q = "";
	if (!role)
		role = "";
	if (strlen(q) > SEARCH_MAX || (*q && !identity_text_ok(q, SEARCH_MAX)))
		return respond_error(ctx->req, 400, "bad_request",
				     "the search text must be at most 100 "
				     "bytes of text");
	if (*role && !role_parse(role))
		return respond_error(ctx->req, 400, "bad_request",
				     "role must be patient, staff, physician "
				     "or admin");
	like = identity_like(ctx, q);
	if (!like)
		return ATR_ENOMEM;
	params = json_pack("[s,s,s,s,s]", role, role, q, like, like);
	rows = db_query(ctx_db(ctx),
			"SELECT id, username, display_name, role, locked, "
			"totp_enabled, (username IS NOT NULL AND password_hash "
			"IS NOT NULL) AS activated, created_at FROM users "
			"WHERE (? = '' OR role = ?) AND (? = '' OR username "
			"LIKE ? ESCAPE '\\' OR display_name LIKE ? ESCAPE "
			"'\\') ORDER BY id LIMIT 500",
			params);
	json_decref(params);
	if (!rows)
		return respond_error(ctx->req, 503, "unavailable",
				     "accounts cannot be listed right now");
	json_array_foreach(rows, i, row)
	{
		static const char *const b[] = {"locked", "totp_enabled",
						"activated"};
		for (size_t k = 0; k < 3; k++)
			json_object_set_new(row, b[k],
					    json_boolean(json_integer_value(
						json_object_get(row, b[k]))));
	}
	audit_ctx(ctx, "account.search", 0, "users", *q ? q : NULL, "ok");
	return respond_json(ctx->req, 200, json_pack("{s:o}", "users", rows));
}

/* ---- create ------------------------------------------------------------ */

struct newuser {
	char username[USERNAME_MAX + 1];
	const char *display_name, *role;
};

static void create_finish(struct atr_ctx *ctx, void *arg)
{
	struct idjob *j = arg;
	struct newuser *n = j->data;
	struct db *db = ctx_db(ctx);
	json_t *user, *ev;
	const char *reason;
	long long id;
	int rc;

	if (j->why) {
		identity_bad_field(ctx, "password", "weak_password", j->why);
		return;
	}
	if (j->failed || db_begin(db) != ATR_OK)
		goto fail;
	rc = db_done(db_stmt(db,
			     "INSERT INTO users (username, display_name, role, "
			     "password_hash) VALUES (?, ?, ?, ?)",
			     "ssss", n->username, n->display_name, n->role,
			     j->new_hash));
	if (rc == ATR_ECONFLICT) {
		db_rollback(db);
		identity_taken_409(ctx);
		return;
	}
	if (rc != ATR_OK)
		goto fail;
	id = sqlite3_last_insert_rowid(db_handle(db));
	identity_audit_account(ctx, "account.create", id, "ok");
	if (db_commit(db) != ATR_OK)
		goto fail;
	ev = json_pack("{s:I,s:s}", "user_id", id, "role", n->role);
	events_emit(ctx, "user.created", ev, &reason);
	json_decref(ev);
	user = identity_admin_user_json(ctx, id);
	respond_json(ctx->req, 201,
		     json_pack("{s:o}", "user", user ? user : json_null()));
	return;
fail:
	db_rollback(db);
	respond_error(ctx->req, 503, "unavailable",
		      "the account could not be created; try again");
}

int idh_admin_user_create(struct atr_ctx *ctx)
{
	static const struct atr_field fields[] = {
	    {"username", ATR_F_STRING, 1, 256},
	    {"display_name", ATR_F_STRING, 1, DISPLAY_NAME_MAX},
	    {"role", ATR_F_STRING, 1, 16},
	    {"password", ATR_F_STRING, 1, PASSWORD_MAX},
	    {NULL, 0, 0, 0},
	};
	json_t *body = atr_host_api.req_json(ctx, fields);
	struct newuser *n;
	struct idjob *j;
	const char *u;
	unsigned role;

	if (!body)
		return ATR_ERESPONDED;
	j = idjob_new(ctx);
	n = arena_alloc(ctx->arena, sizeof(*n));
	if (!j || !n)
		return ATR_ENOMEM;
	j->data = n;
	j->password = idjob_take(ctx, body, "password", &j->pwlen);
	if (!j->password)
		return ATR_ENOMEM;
	u = json_string_value(json_object_get(body, "username"));
	n->display_name =
	    json_string_value(json_object_get(body, "display_name"));
	n->role = json_string_value(json_object_get(body, "role"));
	role = role_parse(n->role);
	if (!identity_username_ok(u) ||
	    !identity_text_ok(n->display_name, DISPLAY_NAME_MAX) ||
	    !(role & (ATR_ROLES_CARE_TEAM | ATR_ROLE_ADMIN)) ||
	    identity_username_taken(ctx, u)) {
		idjob_wipe(j);
		if (!identity_username_ok(u))
			return identity_bad_field(
			    ctx, "username", "bad_request",
			    "a username is 3-64 letters, digits or . _ - @");
		if (!identity_text_ok(n->display_name, DISPLAY_NAME_MAX))
			return identity_bad_field(
			    ctx, "display_name", "bad_request",
			    "the name must be 1-200 bytes of text");
		if (!(role & (ATR_ROLES_CARE_TEAM | ATR_ROLE_ADMIN)))
			return identity_bad_field(
			    ctx, "role", "bad_request",
			    "role must be physician, staff or admin; "
			    "patients are invited with an activation code");
		return identity_taken_409(ctx);
	}
	snprintf(n->username, sizeof(n->username), "%s", u);
	snprintf(j->username, sizeof(j->username), "%s", u);
	return idjob_start(ctx, j, create_finish);
}

/* ---- lock, unlock, reset TOTP ------------------------------------------ */

/* The target account of /api/admin/users/:id/...: its id, and its
 * username into name (may be empty: a patient not yet activated).
 * Answers 404 and returns 0 when there is none. */
static long long target(struct atr_ctx *ctx, char name[USERNAME_MAX + 1])
{
	long long id = identity_param_id(ctx, "id"), found = 0;
	sqlite3_stmt *st =
	    db_stmt(ctx_db(ctx), "SELECT id, username FROM users WHERE id = ?",
		    "i", id);
	name[0] = '\0';
	if (id && st && sqlite3_step(st) == SQLITE_ROW) {
		const char *u = (const char *)sqlite3_column_text(st, 1);
		found = sqlite3_column_int64(st, 0);
		snprintf(name, USERNAME_MAX + 1, "%s", u ? u : "");
	}
	if (st)
		sqlite3_reset(st);
	if (!found)
		respond_error(ctx->req, 404, "not_found", "no such account");
	return found;
}

static int no_body(struct atr_ctx *ctx)
{
	static const struct atr_field fields[] = {{NULL, 0, 0, 0}};
	return !ctx->req->body_len || atr_host_api.req_json(ctx, fields);
}

/* Commits the open transaction and answers 200 {"user"}, or rolls back
 * and answers 503. */
static int finish(struct atr_ctx *ctx, long long id, int ok)
{
	struct db *db = ctx_db(ctx);
	json_t *user;
	if (!ok || db_commit(db) != ATR_OK) {
		db_rollback(db);
		return respond_error(ctx->req, 503, "unavailable",
				     "the account could not be changed; try "
				     "again");
	}
	user = identity_admin_user_json(ctx, id);
	return respond_json(
	    ctx->req, 200,
	    json_pack("{s:o}", "user", user ? user : json_null()));
}

int idh_admin_lock(struct atr_ctx *ctx)
{
	char name[USERNAME_MAX + 1];
	struct db *db = ctx_db(ctx);
	long long id;
	int ok;

	if (!no_body(ctx))
		return ATR_ERESPONDED;
	if (!(id = target(ctx, name)))
		return ATR_OK;
	if (id == ctx->user_id)
		return respond_error(ctx->req, 409, "own_account",
				     "you cannot lock your own account");
	ok =
	    db_begin(db) == ATR_OK &&
	    db_done(db_stmt(db,
			    "UPDATE users SET locked = 1, updated_at = "
			    "strftime('%Y-%m-%dT%H:%M:%SZ','now') WHERE id = ?",
			    "i", id)) == ATR_OK &&
	    session_revoke_all(ctx, id, 0) == ATR_OK;
	if (ok)
		identity_audit_account(ctx, "account.lock", id, "ok");
	return finish(ctx, id, ok);
}

int idh_admin_unlock(struct atr_ctx *ctx)
{
	char name[USERNAME_MAX + 1], key[THROTTLE_KEY_MAX], sid[24];
	struct db *db = ctx_db(ctx);
	long long id;
	int ok;

	if (!no_body(ctx))
		return ATR_ERESPONDED;
	if (!(id = target(ctx, name)))
		return ATR_OK;
	ok =
	    db_begin(db) == ATR_OK &&
	    db_done(db_stmt(db,
			    "UPDATE users SET locked = 0, failed_logins = 0, "
			    "throttled_until = 0, updated_at = "
			    "strftime('%Y-%m-%dT%H:%M:%SZ','now') WHERE id = ?",
			    "i", id)) == ATR_OK &&
	    db_done(db_stmt(db,
			    "UPDATE login_devices SET failures = 0, "
			    "throttled_until = 0 WHERE user_id = ?",
			    "i", id)) == ATR_OK;
	if (ok) {
		if (name[0]) {
			throttle_key(key, "user", name);
			throttle_clear(db, key);
		}
		snprintf(sid, sizeof(sid), "%lld", id);
		throttle_key(key, "reauth", sid);
		throttle_clear(db, key);
		identity_audit_account(ctx, "account.unlock", id, "ok");
	}
	return finish(ctx, id, ok);
}

int idh_admin_reset_totp(struct atr_ctx *ctx)
{
	char name[USERNAME_MAX + 1];
	struct db *db = ctx_db(ctx);
	long long id;
	int ok;

	if (!no_body(ctx))
		return ATR_ERESPONDED;
	if (!(id = target(ctx, name)))
		return ATR_OK;
	ok =
	    db_begin(db) == ATR_OK &&
	    db_done(db_stmt(db,
			    "UPDATE users SET totp_enabled = 0, totp_secret = "
			    "NULL, totp_pending = NULL, totp_pending_at = "
			    "NULL, updated_at = "
			    "strftime('%Y-%m-%dT%H:%M:%SZ','now') WHERE id = ?",
			    "i", id)) == ATR_OK &&
	    db_done(db_stmt(db, "DELETE FROM recovery_codes WHERE user_id = ?",
			    "i", id)) == ATR_OK &&
	    session_revoke_all(ctx, id, 0) == ATR_OK;
	if (ok)
		identity_audit_account(ctx, "account.totp_reset", id, "ok");
	return finish(ctx, id, ok);
}
