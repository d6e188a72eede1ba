/*
 * http.c - see http.h. The access handler follows libmicrohttpd's protocol:
 * the first call only sets up the request (returning MHD_YES without a
 * response keeps keep-alive working), upload calls append to the body, and
 * the final call dispatches and queues the response. Errors found before the
 * body arrives (ambiguous length) are answered at once and close the
 * connection. An oversized body is never kept: when the client waits for
 * "100 Continue" the 413 goes out at once; otherwise the body is discarded
 * as it arrives and the 413 (closing the connection) goes out when it ends.
 * Answering a client that is still sending would make the kernel reset the
 * connection on close, losing the 413, and libmicrohttpd refuses a response
 * queued mid-upload anyway.
 */
#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <sys/resource.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "auth.h"
#include "clock.h"
#include "db.h"
#include "json_out.h"
#include "log.h"
#include "plugins.h"
#include "request.h"
#include "static.h"

struct router *g_router;

enum req_state { REQ_NEW, REQ_BODY, REQ_OFFLOADING, REQ_RESUMED, REQ_QUEUED };

static struct MHD_Daemon *daemon_;
static MHD_socket quiesced_fd = MHD_INVALID_SOCKET;
static const struct config *cfg_;
static atomic_int inflight;
static atomic_ullong req_counter;
static unsigned req_prefix;
static int listen_port;
static int tls_on;
static char *tls_cert_pem, *tls_key_pem;

static const char csp[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'";

/* ---- offload pool: bounded queue, a few threads ------------------------ */

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct request **q;
	size_t cap, head, len, reserved;
	pthread_t *threads;
	int nthreads, stop;
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void *pool_main(void *arg)
{
	(void)arg;
	/* Hashing is deliberately slow; at a lower priority than the request
	 * workers it uses spare CPU, so a burst of sign-ins slows sign-ins
	 * rather than every other request (Linux: nice is per thread). */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), 10))
		log_msg(LOG_DEBUG, "offload pool: cannot lower priority");
	pthread_mutex_lock(&pool.mu);
	for (;;) {
		struct request *req;
		while (!pool.len && !pool.stop)
			pthread_cond_wait(&pool.cv, &pool.mu);
		if (!pool.len && pool.stop)
			break;
		req = pool.q[pool.head];
		pool.head = (pool.head + 1) % pool.cap;
		pool.len--;
		pthread_mutex_unlock(&pool.mu);
		req->work(req, req->cont_arg);
		req->state = REQ_RESUMED;
		MHD_resume_connection(req->conn);
		pthread_mutex_lock(&pool.mu);
	}
	pthread_mutex_unlock(&pool.mu);
	return NULL;
}

static int pool_start(int threads, int queue)
{
	pool.cap = (size_t)queue;
	pool.q = calloc(pool.cap, sizeof(*pool.q));
	pool.threads = calloc((size_t)threads, sizeof(*pool.threads));
	if (!pool.q || !pool.threads)
		return -1;
	pool.stop = 0;
	for (int i = 0; i < threads; i++) {
		if (pthread_create(&pool.threads[i], NULL, pool_main, NULL))
			return -1;
		pool.nthreads++;
	}
	return 0;
}

static void pool_stop(void)
{
	pthread_mutex_lock(&pool.mu);
	pool.stop = 1;
	pthread_cond_broadcast(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
	for (int i = 0; i < pool.nthreads; i++)
		pthread_join(pool.threads[i], NULL);
	pool.nthreads = 0;
	free(pool.q);
	free(pool.threads);
	pool.q = NULL;
	pool.threads = NULL;
}

int http_offload(struct atr_ctx *ctx, offload_fn work, continue_fn cont,
		 void *arg)
{
	struct request *req = ctx->req;
	int ok;

	if (!req || !pool.q)
		return -1;
	pthread_mutex_lock(&pool.mu);
	ok = pool.len + pool.reserved < pool.cap;
	if (ok)
		pool.reserved++;
	pthread_mutex_unlock(&pool.mu);
	if (!ok)
		return -1;
	req->work = work;
	req->cont = cont;
	req->cont_arg = arg;
	req->state = REQ_OFFLOADING;
	return 0;
}

static void pool_push(struct request *req)
{
	pthread_mutex_lock(&pool.mu);
	pool.reserved--;
	pool.q[(pool.head + pool.len) % pool.cap] = req;
	pool.len++;
	pthread_cond_signal(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
}

/* ---- request accessors ------------------------------------------------- */

const char *request_header(struct request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *request_cookie(struct request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, name);
}

const char *request_query(struct request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND,
					   name);
}

const char *request_param(struct request *req, const char *name)
{
	for (int i = 0; i < req->match.nparams; i++)
		if (!strcmp(req->match.names[i], name))
			return req->match.values[i];
	return NULL;
}

/* ---- responses --------------------------------------------------------- */

int respond_raw(struct request *req, int status, const char *type,
		char *body, size_t len)
{
	if (req->responded) {
		free(body);
		return ATR_ERESPONDED;
	}
	req->responded = 1;
	req->status = status;
	req->resp = body;
	req->resp_len = len;
	req->content_type = type;
	return ATR_OK;
}

int respond_static(struct request *req, int status, const char *type,
		   const char *body, size_t len)
{
	if (req->responded)
		return ATR_ERESPONDED;
	req->responded = 1;
	req->status = status;
	req->static_body = body;
	req->resp_len = len;
	req->content_type = type;
	return ATR_OK;
}

int respond_json(struct request *req, int status, json_t *body)
{
	char *text;
	size_t len;
	if (!body)
		return respond_raw(req, status, NULL, NULL, 0);
	text = json_out(body, &len);
	json_decref(body);
	if (!text)
		return ATR_ENOMEM;
	return respond_raw(req, status, "application/json", text, len);
}

int respond_error(struct request *req, int status, const char *code,
		  const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return respond_json(req, status,
			    json_pack("{s:{s:s,s:s}}", "error", "code", code,
				      "message", msg));
}

int respond_header(struct request *req, const char *name, const char *value)
{
	if (req->nhdr == REQ_MAX_HEADERS)
		return ATR_ENOMEM;
	req->hdr_name[req->nhdr] = name;
	req->hdr_value[req->nhdr] = value;
	req->nhdr++;
	return ATR_OK;
}

static void add_security_headers(struct MHD_Response *r, int api)
{
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Content-Security-Policy", csp);
	MHD_add_response_header(r, "Cross-Origin-Opener-Policy", "same-origin");
	if (tls_on)
		MHD_add_response_header(r, "Strict-Transport-Security",
					"max-age=31536000");
	if (api)
		MHD_add_response_header(r, "Cache-Control", "no-store");
}

static enum MHD_Result queue(struct request *req)
{
	struct MHD_Response *r = req->raw;
	enum MHD_Result ret;

	if (!req->responded) {
		log_msg(LOG_ERROR, "req=%s: handler wrote no response",
			req->id);
		respond_error(req, 500, "internal_error",
			      "the server could not complete the request");
	}
	if (!r) {
		if (req->static_body)
			r = MHD_create_response_from_buffer(
			    req->resp_len, (void *)(uintptr_t)req->static_body,
			    MHD_RESPMEM_PERSISTENT);
		else
			r = MHD_create_response_from_buffer(
			    req->resp_len, req->resp ? req->resp : (char *)"",
			    req->resp ? MHD_RESPMEM_MUST_FREE
				      : MHD_RESPMEM_PERSISTENT);
		if (!r)
			return MHD_NO;
		req->resp = NULL;
		if (req->content_type)
			MHD_add_response_header(r, "Content-Type",
						req->content_type);
	}
	req->raw = NULL;
	add_security_headers(r, req->is_api || req->status >= 400);
	/* After a framing or size error the rest of the stream cannot be
	 * trusted to start a new request. */
	if (req->early_status)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	for (int i = 0; i < req->nhdr; i++)
		MHD_add_response_header(r, req->hdr_name[i],
					req->hdr_value[i]);
	ret = MHD_queue_response(req->conn, (unsigned)req->status, r);
	MHD_destroy_response(r);
	req->state = REQ_QUEUED;
	return ret;
}

/* ---- the request path -------------------------------------------------- */

static int is_unsafe(const char *m)
{
	return strcmp(m, "GET") && strcmp(m, "HEAD") && strcmp(m, "OPTIONS");
}

static int json_content_type(const char *ct)
{
	size_t n = strlen("application/json");
	if (!ct || strncasecmp(ct, "application/json", n))
		return 0;
	ct += n;
	while (*ct == ' ')
		ct++;
	return *ct == '\0' || *ct == ';';
}

/* After the handler (or its continuation) returns. */
static void finish_handler(struct request *req)
{
	const struct route *rt = req->match.route;
	struct atr_ctx *ctx = &req->ctx;

	if (!req->responded)
		respond_error(req, 500, "internal_error",
			      "the server could not complete the request");
	if (ctx->db && db_in_tx(ctx->db)) {
		log_msg(LOG_WARN, "req=%s: transaction left open; rolled back",
			req->id);
		db_rollback(ctx->db);
	}
	if (ctx->db && db_request_done(ctx->db) != ATR_OK) {
		req->responded = 0;
		free(req->resp);
		req->resp = NULL;
		req->static_body = NULL;
		req->nhdr = 0;
		respond_error(req, 500, "internal_error",
			      "the change could not be saved");
	}
	if (rt && (rt->flags & ATR_ROUTE_PHI) && !ctx->audited)
		audit_route(ctx, rt, req->status);
}

static void run_handler(struct request *req)
{
	const struct route *rt = req->match.route;
	struct atr_ctx *ctx = &req->ctx;

	ctx->plugin = rt->plugin;
	rt->handler(ctx);
	if (req->state == REQ_OFFLOADING)
		return;
	finish_handler(req);
}

static void dispatch(struct request *req)
{
	const struct route *rt;
	const char *ct;
	enum router_result rr;

	if (req->early_status) {
		respond_error(req, req->early_status, req->early_code, "%s",
			      req->early_msg);
		return;
	}
	if (!req->is_api) {
		static_serve(req);
		return;
	}
	rr = router_match(g_router, req->method, req->path, &req->match);
	if (rr == ROUTE_NOT_FOUND) {
		respond_error(req, 404, "not_found", "no such resource");
		return;
	}
	if (rr == ROUTE_BAD_METHOD) {
		respond_header(req, "Allow",
			       arena_strdup(&req->arena, req->match.allow));
		respond_error(req, 405, "method_not_allowed",
			      "method %s is not allowed here", req->method);
		return;
	}
	rt = req->match.route;
	if (auth_resolve(req) != 0) {
		respond_error(req, 503, "unavailable",
			      "the service is temporarily unavailable");
		return;
	}
	if (!(rt->flags & ATR_ROUTE_PUBLIC)) {
		if (!req->ctx.user_id) {
			respond_error(req, 401, "unauthenticated",
				      "sign in to continue");
			return;
		}
		if (!(rt->roles & req->ctx.role)) {
			if (rt->flags & ATR_ROUTE_PHI)
				audit_route(&req->ctx, rt, 403);
			respond_error(req, 403, "forbidden",
				      "your role may not do this");
			return;
		}
		if (!auth_route_allowed_now(req, rt)) {
			respond_error(req, 403, "totp_enrollment_required",
				      "set up two-step sign-in first");
			return;
		}
	}
	if (is_unsafe(req->method) && !auth_csrf_ok(req)) {
		respond_error(req, 403, "csrf",
			      "missing or invalid CSRF token or origin");
		return;
	}
	ct = request_header(req, "Content-Type");
	if (req->body_len && !(rt->flags & ATR_ROUTE_RAW_BODY) &&
	    !json_content_type(ct)) {
		respond_error(req, 415, "unsupported_media_type",
			      "send the body as application/json");
		return;
	}
	run_handler(req);
}

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind,
				     const char *key, const char *value)
{
	int *n = cls;
	(void)kind;
	(void)value;
	if (!strcasecmp(key, "Content-Length"))
		n[0]++;
	else if (!strcasecmp(key, "Transfer-Encoding"))
		n[1]++;
	return MHD_YES;
}

static void early(struct request *req, int status, const char *code,
		  const char *msg)
{
	if (req->early_status)
		return;
	req->early_status = status;
	req->early_code = code;
	req->early_msg = msg;
}

/* Does the client wait for "100 Continue" before sending its body? */
static int expects_continue(struct request *req)
{
	const char *e = request_header(req, "Expect");
	return e && strcasestr(e, "100-continue");
}

/* The client's address, formatted on first use (audit rows, throttles and
 * sessions want it; most requests never do). */
const char *request_client(struct request *req)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;

	if (req->client_done)
		return req->client;
	req->client_done = 1;
	req->client[0] = '\0';
	ci = MHD_get_connection_info(req->conn,
				     MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	sa = ci ? ci->client_addr : NULL;
	if (!sa)
		return req->client;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET,
			  &((const struct sockaddr_in *)(const void *)sa)
			       ->sin_addr,
			  req->client, sizeof(req->client));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6,
			  &((const struct sockaddr_in6 *)(const void *)sa)
			       ->sin6_addr,
			  req->client, sizeof(req->client));
	return req->client;
}

/* The request id: "%08x%08llx" of the process prefix and the counter. */
static void format_id(char *out, unsigned prefix, unsigned long long n)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[16];
	int len = 0;
	for (int i = 7; i >= 0; i--, prefix >>= 4)
		out[i] = hex[prefix & 15];
	do {
		tmp[len++] = hex[n & 15];
		n >>= 4;
	} while (n);
	while (len < 8)
		tmp[len++] = '0';
	for (int i = 0; i < len; i++)
		out[8 + i] = tmp[len - 1 - i];
	out[8 + len] = '\0';
}

static int path_ok(const char *p)
{
	for (; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

/* One finished request struct per worker thread is kept for the next: a
 * request is a few KiB, past malloc's fast bins. */
static pthread_key_t spare_key;
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;
static _Thread_local struct request *spare;

static void spare_key_make(void)
{
	pthread_key_create(&spare_key, free);
}

static struct request *request_alloc(void)
{
	struct request *req = spare;
	if (!req)
		return calloc(1, sizeof(*req));
	spare = NULL;
	pthread_setspecific(spare_key, NULL);
	memset(req, 0, sizeof(*req));
	return req;
}

static void request_free(struct request *req)
{
	if (spare) {
		free(req);
		return;
	}
	pthread_once(&spare_once, spare_key_make);
	spare = req;
	pthread_setspecific(spare_key, req);
}

static struct request *request_new(struct MHD_Connection *conn,
				   const char *url, const char *method)
{
	struct request *req = request_alloc();
	int framing[2] = {0, 0};
	const char *cl;

	if (!req)
		return NULL;
	req->t0 = mono_us();
	req->conn = conn;
	arena_init(&req->arena);
	ctx_init(&req->ctx, NULL, &req->arena, CTX_REQUEST);
	req->ctx.req = req;
	req->method = method;
	req->path = arena_strdup(&req->arena, url);
	req->status = 0;
	format_id(req->id, req_prefix,
		  (unsigned long long)atomic_fetch_add(&req_counter, 1));
	req->is_api = !strncmp(url, "/api/", 5) || !strcmp(url, "/api") ||
		      !strcmp(url, "/healthz");
	if (!req->path) {
		request_free(req);
		return NULL;
	}
	if (!path_ok(req->path))
		early(req, 400, "bad_request", "the path is malformed");
	MHD_get_connection_values(conn, MHD_HEADER_KIND, count_framing,
				  framing);
	if (framing[0] > 1)
		early(req, 400, "bad_request",
		      "more than one Content-Length header");
	else if (framing[0] && framing[1])
		early(req, 400, "bad_request",
		      "Content-Length together with Transfer-Encoding");
	cl = request_header(req, "Content-Length");
	if (cl && !req->early_status) {
		char *end;
		unsigned long long n = strtoull(cl, &end, 10);
		if (*end || end == cl)
			early(req, 400, "bad_request",
			      "Content-Length is malformed");
		else if (n > (unsigned long long)cfg_->max_body)
			early(req, 413, "payload_too_large",
			      "the request body is larger than allowed");
	}
	return req;
}

static enum MHD_Result handle(struct MHD_Connection *conn, const char *url,
			      const char *method, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	struct request *req = *con_cls;

	if (!req) {
		req = request_new(conn, url, method);
		if (!req)
			return MHD_NO;
		*con_cls = req;
		atomic_fetch_add(&inflight, 1);
		if (req->early_status == 413 && !expects_continue(req))
			return MHD_YES; /* drain the body, answer at the end */
		if (req->early_status) {
			/* Refuse before reading the body. */
			dispatch(req);
			return queue(req);
		}
		return MHD_YES;
	}
	if (req->state == REQ_QUEUED) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (req->state == REQ_RESUMED) {
		req->cont(&req->ctx, req->cont_arg);
		finish_handler(req);
		return queue(req);
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (req->early_status)
			return MHD_YES; /* discard: an error is waiting */
		if (req->body_len + n > (size_t)cfg_->max_body) {
			/* No length was declared (else request_new saw
			 * it): drop what came and the rest; answer at the
			 * end. */
			early(req, 413, "payload_too_large",
			      "the request body is larger than allowed");
			free(req->body);
			req->body = NULL;
			req->body_len = 0;
			req->body_cap = 0;
			return MHD_YES;
		}
		if (req->body_len + n + 1 > req->body_cap) {
			size_t cap = req->body_cap ? req->body_cap * 2 : 4096;
			char *b;
			while (cap < req->body_len + n + 1)
				cap *= 2;
			if (cap > (size_t)cfg_->max_body + 1)
				cap = (size_t)cfg_->max_body + 1;
			b = realloc(req->body, cap);
			if (!b)
				return MHD_NO;
			req->body = b;
			req->body_cap = cap;
		}
		memcpy(req->body + req->body_len, upload_data, n);
		req->body_len += n;
		req->body[req->body_len] = '\0';
		return MHD_YES;
	}
	dispatch(req);
	if (req->state == REQ_OFFLOADING) {
		MHD_suspend_connection(conn);
		pool_push(req);
		return MHD_YES;
	}
	return queue(req);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	enum MHD_Result ret;
	(void)cls;
	(void)version;
	db_enter();
	ret = handle(conn, url, method, upload_data, upload_data_size,
		     con_cls);
	db_leave();
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn,
			 void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct request *req = *con_cls;
	(void)cls;
	(void)conn;
	(void)toe;
	if (!req)
		return;
	if (cfg_->access_log) {
		char buf[1024];
		log_access(req->id, req->method,
			   req->path ? router_redacted_path(&req->match,
							    req->path, buf,
							    sizeof(buf))
				     : "-",
			   req->status ? req->status : 499, mono_us() - req->t0,
			   req->ctx.user_id);
	}
	if (req->raw)
		MHD_destroy_response(req->raw);
	json_decref(req->json);
	free(req->resp);
	free(req->body);
	ctx_release(&req->ctx);
	arena_release(&req->arena);
	request_free(req);
	*con_cls = NULL;
	atomic_fetch_sub(&inflight, 1);
}

/* Percent-decoding for the path and query. A decoded NUL becomes 0x01 so
 * the request is refused instead of silently truncated. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
	char *r = s, *w = s;
	(void)cls;
	(void)c;
	while (*r) {
		if (r[0] == '%' && isxdigit((unsigned char)r[1]) &&
		    isxdigit((unsigned char)r[2])) {
			char hex[3] = {r[1], r[2], 0};
			unsigned long v = strtoul(hex, NULL, 16);
			*w++ = v ? (char)v : '\x01';
			r += 3;
			continue;
		}
		*w++ = *r++;
	}
	*w = '\0';
	return (size_t)(w - s);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 &&
	    n < 1 << 20 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1))) {
		if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		} else {
			buf[n] = '\0';
		}
	}
	fclose(f);
	return buf;
}

int http_start(const struct config *cfg)
{
	struct sockaddr_in sa;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	int workers = cfg->workers;
	const union MHD_DaemonInfo *info;
	unsigned char rnd[4];
	FILE *ur;

	cfg_ = cfg;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)cfg->port);
	if (inet_pton(AF_INET, cfg->address, &sa.sin_addr) != 1) {
		log_msg(LOG_ERROR, "server: address '%s' is not an IPv4 address",
			cfg->address);
		return -1;
	}
	if (workers <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		workers = n > 0 ? (int)n : 1;
	}
	/* libmicrohttpd 0.9.75 with epoll in a single thread stalls under
	 * a few hundred connections (measured: 48 requests/s at 256, poll
	 * 27000); a pool of two or more does not. */
	if (!strcmp(cfg->poll, "epoll") && workers < 2) {
		log_msg(LOG_WARN, "server: epoll needs 2 or more workers; "
				  "using poll with 1");
		flags |= MHD_USE_POLL;
	} else {
		flags |= !strcmp(cfg->poll, "epoll") ? MHD_USE_EPOLL
						     : MHD_USE_POLL;
	}
	if (*cfg->tls_cert) {
		tls_cert_pem = slurp(cfg->tls_cert);
		tls_key_pem = slurp(cfg->tls_key);
		if (!tls_cert_pem || !tls_key_pem) {
			log_msg(LOG_ERROR, "server: cannot read tls_cert or "
					   "tls_key");
			return -1;
		}
		flags |= MHD_USE_TLS;
		tls_on = 1;
	}
	ur = fopen("/dev/urandom", "rb");
	if (ur) {
		if (fread(rnd, 1, sizeof(rnd), ur) == sizeof(rnd))
			memcpy(&req_prefix, rnd, sizeof(req_prefix));
		fclose(ur);
	}
	if (pool_start(cfg->hash_threads, cfg->hash_queue)) {
		log_msg(LOG_ERROR, "server: cannot start the offload pool");
		return -1;
	}
	daemon_ = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR,
	    (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE,
	    (unsigned)(workers > 1 ? workers : 0), /* 1: no pool */
	    MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)cfg->connection_timeout, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)cfg->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned)cfg->max_connections_per_ip,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->connection_memory,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
	    MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
	    /* No MHD_OPTION_LISTENING_ADDRESS_REUSE: it means SO_REUSEPORT,
	     * which lets a second atriumd bind the same port and take half
	     * the connections. MHD's default SO_REUSEADDR is enough for a
	     * quick restart. */
	    tls_on ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, tls_cert_pem,
	    MHD_OPTION_HTTPS_MEM_KEY, tls_key_pem,
	    MHD_OPTION_HTTPS_PRIORITIES,
	    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2", MHD_OPTION_END);
	if (!daemon_) {
		log_msg(LOG_ERROR, "server: cannot listen on %s:%d", cfg->address,
			cfg->port);
		pool_stop();
		return -1;
	}
	info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
	listen_port = info ? info->port : cfg->port;
	log_msg(LOG_INFO, "listening on %s://%s:%d with %d workers (%s)",
		tls_on ? "https" : "http", cfg->address, listen_port, workers,
		(flags & MHD_USE_EPOLL) ? "epoll" : "poll");
	return 0;
}

int http_port(void)
{
	return listen_port;
}

void http_stop(int grace_seconds)
{
	unsigned long long deadline;
	if (!daemon_)
		return;
	quiesced_fd = MHD_quiesce_daemon(daemon_);
	deadline = mono_us() + (unsigned long long)grace_seconds * 1000000ull;
	while (atomic_load(&inflight) > 0 && mono_us() < deadline) {
		struct timespec ts = {0, 20 * 1000000};
		nanosleep(&ts, NULL);
	}
	if (atomic_load(&inflight) > 0)
		log_msg(LOG_WARN, "shutdown: %d requests still running after "
				  "%d s; closing them",
			atomic_load(&inflight), grace_seconds);
	pool_stop();
	MHD_stop_daemon(daemon_);
	daemon_ = NULL;
	/* Ours to close after the daemon stopped (MHD_quiesce_daemon). */
	if (quiesced_fd != MHD_INVALID_SOCKET)
		close(quiesced_fd);
	quiesced_fd = MHD_INVALID_SOCKET;
	free(tls_cert_pem);
	free(tls_key_pem);
}
