/*
 * audit.h - the append-only, hash-chained audit log (HIPAA 164.312(b)).
 * Each row's hash covers its fields and the previous row's hash, so an edit
 * made directly in the database breaks the chain at that row; triggers
 * refuse UPDATE and DELETE. Writing is serialised by SQLite's write lock:
 * the read of the last hash and the insert share one IMMEDIATE transaction.
 */
#ifndef ATRIUM_AUDIT_H
#define ATRIUM_AUDIT_H

#include <jansson.h>

#include "request.h"

struct db;

struct audit_rec {
	long long user_id; /* 0 = none */
	const char *username, *role;
	const char *action;
	long long patient_id; /* 0 = none */
	const char *object_type, *object_id;
	const char *client;
	const char *outcome;
};

/* Appends one row; inside the caller's transaction when one is open.
 * Returns ATR_OK or an error (logged). */
int audit_write(struct db *db, const struct audit_rec *r);
/* Audit a request on behalf of ctx (user, client filled in). */
int audit_ctx(struct atr_ctx *ctx, const char *action, long long patient_id,
	      const char *object_type, const char *object_id,
	      const char *outcome);
/* The automatic row for a PHI route that wrote none itself. */
void audit_route(struct atr_ctx *ctx, const struct route *rt, int status);
/* Walks the chain; returns 0 when intact, else the id of the first bad row
 * (and a message naming it in msg), or -1 when the log cannot be read or
 * its append-only triggers are missing. */
long long audit_verify(struct db *db, char *msg, size_t msglen);
/* Query for the admin API, newest first: filters may be 0/NULL; from and
 * to are RFC 3339 times, both inclusive. New array, or NULL when a time is
 * malformed or the database fails. */
json_t *audit_query(struct db *db, long long patient_id, long long user_id,
		    const char *from, const char *to, int limit);
const char *role_name(unsigned role);
unsigned role_parse(const char *name);

#endif
