/*
 * audit.c - see audit.h. A row's hash is SHA-256 over the previous row's
 * hash (64 zeros for the first row) and the row's ten fields in column
 * order, each length-prefixed (see hash_part), so an edit of any field,
 * a NULL turned into "" or text moved between fields changes it.
 */
#include "audit.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "api.h"
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

/* One field of the hashed text: a NULL is the byte 0; a value is the byte
 * 1, its length as 8 bytes big-endian, then its bytes. No field can run
 * into the next, and NULL differs from "". */
static void hash_part(crypto_hash_sha256_state *st, const char *v, size_t n)
{
	unsigned char head[9];
	if (!v) {
		head[0] = 0;
		crypto_hash_sha256_update(st, head, 1);
		return;
	}
	head[0] = 1;
	for (int i = 0; i < 8; i++)
		head[1 + i] =
		    (unsigned char)((unsigned long long)n >> (56 - 8 * i));
	crypto_hash_sha256_update(st, head, sizeof(head));
	crypto_hash_sha256_update(st, (const unsigned char *)v, n);
}

/* The row's hash: prev, then the ten fields in column order. Ids of 0
 * are NULL, as stored. */
static void hash_row(const char *prev, const char *const f[10], char out[65])
{
	crypto_hash_sha256_state st;
	unsigned char h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256_init(&st);
	hash_part(&st, prev, strlen(prev));
	for (int i = 0; i < 10; i++)
		hash_part(&st, f[i], f[i] ? strlen(f[i]) : 0);
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
	char prev[65], hash[65], at[32], uid[24], pid[24];
	sqlite3_stmt *st;
	int own_tx = !db_in_tx(db), rc;

	if (!r->action || !r->outcome)
		return ATR_EINVAL;

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
	snprintf(uid, sizeof(uid), "%lld", r->user_id);
	snprintf(pid, sizeof(pid), "%lld", r->patient_id);
	{
		const char *f[10] = {at,
				     r->user_id ? uid : NULL,
				     r->username,
				     r->role,
				     r->action,
				     r->patient_id ? pid : NULL,
				     r->object_type,
				     r->object_id,
				     r->client,
				     r->outcome};
		hash_row(prev, f, hash);
	}
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
	    .client = ctx->req ? request_client(ctx->req) : NULL,
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
	const char *outcome = status < 300		       ? "ok"
			      : status == 401 || status == 403 ? "denied"
			      : status == 404		       ? "not_found"
							       : "error";
	struct request *req = ctx->req;

	snprintf(action, sizeof(action), "%s %s", rt->method, rt->pattern);
	for (int i = 0; req && i < req->match.nparams; i++) {
		size_t n = strlen(oid);
		snprintf(oid + n, sizeof(oid) - n, "%s%s=%s", n ? "," : "",
			 req->match.names[i],
			 router_param_secret(req->match.names[i])
			     ? "[redacted]"
			     : req->match.values[i]);
	}
	audit_ctx(ctx, action, ctx->audit_patient,
		  rt->plugin ? plugin_name(rt->plugin) : "core",
		  oid[0] ? oid : NULL, outcome);
}

/* 1 when both append-only triggers are in place. */
static int triggers_present(struct db *db)
{
	sqlite3_stmt *st = db_stmt(
	    db,
	    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND "
	    "tbl_name = 'audit_log' AND name IN ('audit_no_update', "
	    "'audit_no_delete')",
	    "");
	int n = 0;
	if (st && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	if (st)
		sqlite3_reset(st);
	return n == 2;
}

long long audit_verify(struct db *db, char *msg, size_t msglen)
{
	char prev[65], hash[65];
	sqlite3_stmt *st = db_stmt(
	    db,
	    "SELECT id, at, user_id, username, role, action, patient_id, "
	    "object_type, object_id, client, outcome, prev_hash, hash "
	    "FROM audit_log ORDER BY id",
	    "");
	long long n = 0, bad = 0;
	int rc = SQLITE_DONE;

	if (!st) {
		snprintf(msg, msglen, "audit log cannot be read");
		return -1;
	}
	memcpy(prev, zero_hash, sizeof(prev));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
#define T(i) ((const char *)sqlite3_column_text(st, i))
		long long id = sqlite3_column_int64(st, 0);
		const char *f[10];
		n++;
		if (!T(11) || strcmp(T(11), prev)) {
			snprintf(msg, msglen,
				 "audit chain broken at row %lld: its "
				 "prev_hash does not match the row before "
				 "(a row was removed or edited)",
				 id);
			bad = id;
			break;
		}
		for (int i = 0; i < 10; i++)
			f[i] = T(i + 1);
		hash_row(prev, f, hash);
		if (!T(12) || strcmp(T(12), hash)) {
			snprintf(msg, msglen,
				 "audit chain broken at row %lld: its contents "
				 "do not match its hash (the row was edited)",
				 id);
			bad = id;
			break;
		}
		memcpy(prev, hash, sizeof(prev));
#undef T
	}
	sqlite3_reset(st);
	if (!bad && rc != SQLITE_DONE && rc != SQLITE_ROW) {
		snprintf(msg, msglen, "audit log cannot be read");
		return -1;
	}
	if (!bad && !triggers_present(db)) {
		snprintf(msg, msglen,
			 "audit chain intact (%lld rows) but the triggers that "
			 "refuse UPDATE and DELETE are missing",
			 n);
		return -1;
	}
	if (!bad)
		snprintf(msg, msglen, "audit chain intact: %lld rows", n);
	return bad;
}

/* RFC 3339 text -> the stored form's prefix for comparison
 * ("YYYY-MM-DDTHH:MM:SS", UTC), shifted by `add` seconds. */
static int bound(const char *in, long long add, char out[32])
{
	time_t t;
	struct tm tm;
	if (!in)
		return 0;
	if (time_parse_rfc3339(in, &t))
		return -1;
	t += (time_t)add;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	return 1;
}

json_t *audit_query(struct db *db, long long patient_id, long long user_id,
		    const char *from, const char *to, int limit)
{
	char lo[32], hi[32];
	int has_lo = bound(from, 0, lo), has_hi = bound(to, 1, hi);
	json_t *params, *rows;

	if (has_lo < 0 || has_hi < 0)
		return NULL;
	/* Stored times carry microseconds: "to" is inclusive to the
	 * second, so compare with the next second's prefix. */
	params =
	    json_pack("[I,I,I,I,s?,s?,s?,s?,i]", patient_id, patient_id,
		      user_id, user_id, has_lo ? lo : NULL, has_lo ? lo : NULL,
		      has_hi ? hi : NULL, has_hi ? hi : NULL, limit);
	rows = db_query(db,
			"SELECT id, at AS time, user_id, username, role, "
			"action, patient_id, object_type, object_id, client, "
			"outcome FROM audit_log WHERE (? = 0 OR patient_id = "
			"?) AND (? = 0 OR user_id = ?) AND (? IS NULL OR at "
			">= ?) AND (? IS NULL OR at < ?) ORDER BY id DESC "
			"LIMIT ?",
			params);
	json_decref(params);
	return rows;
}
