/*
 * request.h - one HTTP request as the core and plugins see it, and the
 * opaque plugin context (struct atr_ctx) that wraps it.
 *
 * A request lives from MHD's first access-handler call to its completion
 * callback; all its memory comes from its arena except the response body.
 * Only the worker thread running it touches it, except while it is suspended
 * for offloaded work (see http_offload), when only the offload thread does.
 */
#ifndef ATRIUM_REQUEST_H
#define ATRIUM_REQUEST_H

#include <jansson.h>
#include <microhttpd.h>

#include <atrium/plugin.h>

#include "arena.h"
#include "router.h"

struct db;
struct plugin;
struct wf_gen;
struct request;

enum ctx_phase { CTX_INIT, CTX_REQUEST, CTX_JOB, CTX_CLI };

struct atr_ctx {
	struct plugin *plugin; /* NULL = core */
	struct request *req;   /* NULL outside requests */
	struct arena *arena;
	struct db *db; /* this thread's connection, fetched lazily */
	enum ctx_phase phase;
	/* The signed-in user (0 when anonymous). */
	long long user_id;
	unsigned role;
	const char *username;
	long long session_id;
	long long audit_patient; /* the patient this request touched */
	int audited;              /* an explicit audit row was written */
	/* The workflow generation this request or job started with: every
	 * event it emits runs on the same rules, even across a reload. */
	struct wf_gen *wf_gen;
};

#define REQ_MAX_HEADERS 12

typedef void (*offload_fn)(struct request *req, void *arg);
typedef void (*continue_fn)(struct atr_ctx *ctx, void *arg);

struct request {
	struct MHD_Connection *conn;
	struct arena arena;
	struct atr_ctx ctx;
	const char *method;
	char *path; /* decoded, without the query string */
	char id[28]; /* 8 + up to 16 hex digits */
	unsigned long long t0; /* monotonic microseconds */
	char client[48]; /* see request_client */
	int client_done;
	/* Set by auth_resolve for a live session: the SHA-256 of its token
	 * (the CSRF token derives from it) and whether TOTP is enrolled. */
	char token_hash[65];
	int totp_enabled;

	/* body */
	char *body;
	size_t body_len, body_cap;
	json_t *json; /* parsed body, freed with the request */

	/* set before dispatch when the request is refused early */
	int early_status;
	const char *early_code, *early_msg;

	int state;
	int is_api;
	struct route_match match;

	/* response */
	int status;
	char *resp;  /* malloc'd body */
	const char *static_body; /* or a body that outlives the request */
	size_t resp_len;
	const char *content_type;
	struct MHD_Response *raw; /* prebuilt (static files) */
	const char *hdr_name[REQ_MAX_HEADERS];
	const char *hdr_value[REQ_MAX_HEADERS];
	int nhdr;
	int responded;

	/* offloaded work (password hashing) */
	offload_fn work;
	continue_fn cont;
	void *cont_arg;
};

/* Request accessors used by the core (plugins use the api table). */
const char *request_header(struct request *req, const char *name);
const char *request_cookie(struct request *req, const char *name);
const char *request_query(struct request *req, const char *name);
const char *request_param(struct request *req, const char *name);
/* The client's IP address as text ("" if unknown). */
const char *request_client(struct request *req);

/* Responses. The body of respond_json is stolen. */
int respond_json(struct request *req, int status, json_t *body);
int respond_error(struct request *req, int status, const char *code,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int respond_raw(struct request *req, int status, const char *type,
		char *body, size_t len); /* body malloc'd, stolen */
/* A body in static storage, sent without a copy. */
int respond_static(struct request *req, int status, const char *type,
		   const char *body, size_t len);
/* Adds a response header; name and value must outlive the request (use
 * the arena). At most REQ_MAX_HEADERS. */
int respond_header(struct request *req, const char *name, const char *value);

/* Run `work` on the offload pool with the connection suspended, then
 * `cont` back on a request worker. Returns 0, or -1 when the pool's queue
 * is full (the caller answers 503). Only from a handler. */
int http_offload(struct atr_ctx *ctx, offload_fn work, continue_fn cont,
		 void *arg);

/* The context of the current request, init or job. */
struct db *ctx_db(struct atr_ctx *ctx);
void ctx_init(struct atr_ctx *ctx, struct plugin *p, struct arena *a,
	      enum ctx_phase phase);
/* Drops what the context holds (the pinned workflow generation). */
void ctx_release(struct atr_ctx *ctx);

#endif
