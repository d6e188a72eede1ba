/*
 * audit.c - see audit.h. The hashed text is the fields joined by 0x1f in a
 * fixed order, prefixed by the previous hash (64 zeros for the first row).
 */
#include "audit.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "db.h"
#include "log.h"
#include "plugins.h"
#include "router.h"

static const char zero_hash[] =
    "0000000000000000000000000000000000000000000000000000000000000000";

const char *role_name(unsigned role)
{
	switch (role) {
	case ATR_ROLE_PATIENT:
		return "patient";
	case ATR_ROLE_STAFF:
		return "staff";
	case ATR_ROLE_PHYSICIAN:
		return "physician";
	case ATR_ROLE_ADMIN:
		return "admin";
	}
	return "";
}

unsigned role_parse(const char *name)
{
	if (!name)
		return 0;
	if (!strcmp(name, "patient"))
		return ATR_ROLE_PATIENT;
	if (!strcmp(name, "staff"))
		return ATR_ROLE_STAFF;
	if (!strcmp(name, "physician"))
		return ATR_ROLE_PHYSICIAN;
	if (!strcmp(name, "admin"))
		return ATR_ROLE_ADMIN;
	return 0;
}

static void hash_row(const char *prev, const char *at, long long user_id,
		     const char *username, const char *role,
		     const char *action, long long patient_id,
		     const char *otype, const char *oid, const char *client,
		     const char *outcome, char out[65])
{
	crypto_hash_sha256_state st;
	unsigned char h[crypto_hash_sha256_BYTES];
	char num[2][24];
	const char *parts[11];
	static const unsigned char sep = 0x1f;

	snprintf(num[0], sizeof(num[0]), "%lld", user_id);
	snprintf(num[1], sizeof(num[1]), "%lld", patient_id);
	parts[0] = prev;
	parts[1] = at;
	parts[2] = num[0];
	parts[3] = username ? username : "";
	parts[4] = role ? role : "";
	parts[5] = action ? action : "";
	parts[6] = num[1];
	parts[7] = otype ? otype : "";
	parts[8] = oid ? oid : "";
	parts[9] = client ? client : "";
	parts[10] = outcome ? outcome : "";
	crypto_hash_sha256_init(&st);
	for (int i = 0; i < 11; i++) {
		crypto_hash_sha256_update(&st, (const unsigned char *)parts[i],
					  strlen(parts[i]));
		crypto_hash_sha256_update(&st, &sep, 1);
	}
	crypto_hash_sha256_final(&st, h);
	sodium_bin2hex(out, 65, h, sizeof(h));
}

static void iso_now(char out[32])
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%06ldZ", ts.tv_nsec / 1000);
}

int audit_write(struct db *db, const struct audit_rec *r)
{
	char prev[65], hash[65], at[32];
	sqlite3_stmt *st;
	int own_tx = !db_in_tx(db), rc;

	if (own_tx && (rc = db_begin(db)) != ATR_OK)
		return rc;
	st = db_stmt(db, "SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1",
		     "");
	if (!st) {
		rc = ATR_ERR;
		goto out;
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(prev, sizeof(prev), "%s",
			 (const char *)sqlite3_column_text(st, 0));
	else
		memcpy(prev, zero_hash, sizeof(prev));
	sqlite3_reset(st);
	iso_now(at);
	hash_row(prev, at, r->user_id, r->username, r->role, r->action,
		 r->patient_id, r->object_type, r->object_id, r->client,
		 r->outcome, hash);
	st = db_stmt(db,
		     "INSERT INTO audit_log (at, user_id, username, role, "
		     "action, patient_id, object_type, object_id, client, "
		     "outcome, prev_hash, hash) VALUES "
		     "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		     "sisssissssss", at, r->user_id, r->username, r->role,
		     r->action, r->patient_id, r->object_type, r->object_id,
		     r->client, r->outcome, prev, hash);
	if (st && r->user_id == 0)
		sqlite3_bind_null(st, 2);
	if (st && r->patient_id == 0)
		sqlite3_bind_null(st, 6);
	rc = db_done(st);
out:
	if (own_tx) {
		if (rc == ATR_OK)
			rc = db_commit(db);
		else
			db_rollback(db);
	}
	if (rc != ATR_OK)
		log_msg(LOG_ERROR, "audit: cannot write record for '%s'",
			r->action);
	return rc;
}

int audit_ctx(struct atr_ctx *ctx, const char *action, long long patient_id,
	      const char *object_type, const char *object_id,
	      const char *outcome)
{
	struct audit_rec r = {
	    .user_id = ctx->user_id,
	    .username = ctx->username,
	    .role = ctx->user_id ? role_name(ctx->role) : NULL,
	    .action = action,
	    .patient_id = patient_id,
	    .object_type = object_type,
	    .object_id = object_id,
	    .client = ctx->req ? ctx->req->client : NULL,
	    .outcome = outcome ? outcome : "ok",
	};
	struct db *db = ctx_db(ctx);
	int rc;
	if (!db)
		return ATR_ERR;
	rc = audit_write(db, &r);
	if (rc == ATR_OK)
		ctx->audited = 1;
	return rc;
}

void audit_route(struct atr_ctx *ctx, const struct route *rt, int status)
{
	char action[160], oid[128] = "";
	const char *outcome = status < 300   ? "ok"
			      : status == 401 || status == 403 ? "denied"
			      : status == 404                  ? "not_found"
							       : "error";
	struct request *req = ctx->req;

	snprintf(action, sizeof(action), "%s %s", rt->method, rt->pattern);
	for (int i = 0; req && i < req->match.nparams; i++) {
		size_t n = strlen(oid);
		snprintf(oid + n, sizeof(oid) - n, "%s%s=%s", n ? "," : "",
			 req->match.names[i], req->match.values[i]);
	}
	audit_ctx(ctx, action, ctx->audit_patient,
		  rt->plugin ? plugin_name(rt->plugin) : "core",
		  oid[0] ? oid : NULL, outcome);
}

long long audit_verify(struct db *db, char *msg, size_t msglen)
{
	char prev[65], hash[65];
	sqlite3_stmt *st = db_stmt(
	    db,
	    "SELECT id, at, COALESCE(user_id,0), username, role, action, "
	    "COALESCE(patient_id,0), object_type, object_id, client, outcome, "
	    "prev_hash, hash FROM audit_log ORDER BY id",
	    "");
	long long n = 0, bad = 0;

	memcpy(prev, zero_hash, sizeof(prev));
	while (st && sqlite3_step(st) == SQLITE_ROW) {
#define T(i) ((const char *)sqlite3_column_text(st, i))
		long long id = sqlite3_column_int64(st, 0);
		n++;
		if (!T(11) || strcmp(T(11), prev)) {
			snprintf(msg, msglen,
				 "row %lld: prev_hash does not match row before",
				 id);
			bad = id;
			break;
		}
		hash_row(prev, T(1), sqlite3_column_int64(st, 2), T(3), T(4),
			 T(5), sqlite3_column_int64(st, 6), T(7), T(8), T(9),
			 T(10), hash);
		if (!T(12) || strcmp(T(12), hash)) {
			snprintf(msg, msglen,
				 "row %lld: contents do not match its hash", id);
			bad = id;
			break;
		}
		memcpy(prev, hash, sizeof(prev));
#undef T
	}
	if (st)
		sqlite3_reset(st);
	if (!bad)
		snprintf(msg, msglen, "audit chain intact: %lld rows", n);
	return bad;
}

json_t *audit_query(struct db *db, long long patient_id, long long user_id,
		    const char *from, const char *to, int limit)
{
	json_t *params = json_pack("[I,I,I,I,s?,s?,s?,s?,i]", patient_id,
				   patient_id, user_id, user_id, from, from, to,
				   to, limit);
	json_t *rows = db_query(
	    db,
	    "SELECT id, at AS time, user_id, username, role, action, "
	    "patient_id, object_type, object_id, client, outcome "
	    "FROM audit_log WHERE (? = 0 OR patient_id = ?) "
	    "AND (? = 0 OR user_id = ?) AND (? IS NULL OR at >= ?) "
	    "AND (? IS NULL OR at <= ?) ORDER BY id DESC LIMIT ?",
	    params);
	json_decref(params);
	return rows;
}
