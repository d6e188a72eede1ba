/*
 * log.c - see log.h. Formats into a stack buffer and writes it once.
 *
 * Access lines are batched: each thread appends its lines to its own
 * buffer of at most PIPE_BUF bytes (so one write(2) of whole lines stays
 * atomic even on a pipe), written when full, by a flusher thread every
 * BATCH_MS, and at exit. A write(2) per request cost more than the rest of
 * a /healthz request. Other lines are written at once.
 */
#include "log.h"

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCH_MAX PIPE_BUF
#define BATCH_MS 100

struct batch {
	pthread_mutex_t mu;
	int in_use; /* owned by a live thread */
	size_t len;
	char data[BATCH_MAX];
	struct batch *next;
};

static pthread_mutex_t batches_mu = PTHREAD_MUTEX_INITIALIZER;
static struct batch *batches;
static pthread_once_t batch_once = PTHREAD_ONCE_INIT;
static pthread_key_t batch_key;
static int batching; /* the flusher runs */
static _Thread_local struct batch *my_batch;

static enum log_level min_level = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level min)
{
	min_level = min;
}

/* "ts=2024-01-02T03:04:05.678Z"; the part up to the second is formatted
 * once per second per thread. */
static size_t put_ts(char *buf, size_t cap)
{
	static _Thread_local time_t last_sec = -1;
	static _Thread_local char last[32];
	static _Thread_local size_t last_len;
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != last_sec) {
		gmtime_r(&ts.tv_sec, &tm);
		last_len = strftime(last, sizeof(last), "ts=%Y-%m-%dT%H:%M:%S",
				    &tm);
		last_sec = ts.tv_sec;
	}
	n = last_len + 5 < cap ? last_len : 0;
	memcpy(buf, last, n);
	if (n) {
		long ms = ts.tv_nsec / 1000000;
		buf[n++] = '.';
		buf[n++] = (char)('0' + ms / 100);
		buf[n++] = (char)('0' + ms / 10 % 10);
		buf[n++] = (char)('0' + ms % 10);
		buf[n++] = 'Z';
	}
	return n;
}

/* Appends s quoted, escaping quotes, backslashes and control bytes. At most
 * `max` bytes of s are used; a longer s ends in "..." inside the quotes. */
static size_t put_quoted(char *buf, size_t n, size_t cap, const char *s,
			 size_t max)
{
	const char *end = s + strnlen(s, max);
	if (n < cap)
		buf[n++] = '"';
	for (; s < end && n + 5 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			buf[n++] = '\\';
			buf[n++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			n += (size_t)snprintf(buf + n, cap - n, "\\x%02x", c);
		} else {
			buf[n++] = (char)c;
		}
	}
	if (*s && n + 4 < cap) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	if (n < cap)
		buf[n++] = '"';
	return n;
}

/* Appends an HTTP method as a bare token: anything outside [A-Za-z-] (a
 * client chooses it) becomes '_', so it cannot fake another field. */
static size_t put_token(char *buf, size_t n, size_t cap, const char *s)
{
	for (size_t i = 0; s[i] && i < 16 && n + 1 < cap; i++) {
		char c = s[i];
		buf[n++] = ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			    c == '-')
			       ? c
			       : '_';
	}
	return n;
}

static void write_out(const char *p, size_t n)
{
	if (write(STDERR_FILENO, p, n) < 0) {
		/* nowhere left to report it */
	}
}

static void emit(char *buf, size_t n, size_t cap)
{
	if (n >= cap)
		n = cap - 1;
	buf[n++] = '\n';
	write_out(buf, n);
}

/* ---- batched access lines ------------------------------------------- */

static void batch_flush(struct batch *b)
{
	pthread_mutex_lock(&b->mu);
	if (b->len)
		write_out(b->data, b->len);
	b->len = 0;
	pthread_mutex_unlock(&b->mu);
}

static void flush_all(void)
{
	pthread_mutex_lock(&batches_mu);
	for (struct batch *b = batches; b; b = b->next)
		batch_flush(b);
	pthread_mutex_unlock(&batches_mu);
}

/* A thread ends: write what it left and free its buffer for another. */
static void batch_release(void *p)
{
	struct batch *b = p;
	batch_flush(b);
	pthread_mutex_lock(&batches_mu);
	b->in_use = 0;
	pthread_mutex_unlock(&batches_mu);
}

static void *flusher_main(void *arg)
{
	struct timespec ts = {0, BATCH_MS * 1000000L};
	(void)arg;
	for (;;) {
		nanosleep(&ts, NULL);
		flush_all();
	}
	return NULL;
}

/* Starts the flusher (detached, signals blocked) once; without it every
 * line is written at once. */
static void batch_start(void)
{
	pthread_attr_t attr;
	pthread_t t;
	sigset_t all, old;

	if (pthread_key_create(&batch_key, batch_release))
		return;
	if (pthread_attr_init(&attr))
		return;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (!pthread_create(&t, &attr, flusher_main, NULL)) {
		batching = 1;
		atexit(flush_all);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
}

/* This thread's buffer, reusing one a finished thread left; NULL when
 * batching is off or memory is short. */
static struct batch *batch_get(void)
{
	struct batch *b;
	if (my_batch)
		return my_batch;
	pthread_once(&batch_once, batch_start);
	if (!batching)
		return NULL;
	pthread_mutex_lock(&batches_mu);
	for (b = batches; b && b->in_use; b = b->next)
		;
	if (!b && (b = calloc(1, sizeof(*b)))) {
		pthread_mutex_init(&b->mu, NULL);
		b->next = batches;
		batches = b;
	}
	if (b)
		b->in_use = 1;
	pthread_mutex_unlock(&batches_mu);
	if (b) {
		pthread_setspecific(batch_key, b);
		my_batch = b;
	}
	return b;
}

/* Appends one finished line (with its newline) to this thread's batch. */
static void batch_line(const char *line, size_t n)
{
	struct batch *b = batch_get();
	if (!b) {
		write_out(line, n);
		return;
	}
	pthread_mutex_lock(&b->mu);
	if (b->len + n > sizeof(b->data)) {
		write_out(b->data, b->len);
		b->len = 0;
	}
	memcpy(b->data + b->len, line, n);
	b->len += n;
	pthread_mutex_unlock(&b->mu);
}

static void vlog(enum log_level lvl, const char *comp, const char *fmt,
		 va_list ap)
{
	char buf[2048], msg[1536];
	size_t n;

	if (lvl < min_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = put_ts(buf, sizeof(buf) - 1);
	n += (size_t)snprintf(buf + n, sizeof(buf) - 1 - n, " level=%s",
			      level_names[lvl]);
	if (comp)
		n += (size_t)snprintf(buf + n, sizeof(buf) - 1 - n, " comp=%s",
				      comp);
	n += (size_t)snprintf(buf + n, sizeof(buf) - 1 - n, " msg=");
	n = put_quoted(buf, n, sizeof(buf) - 1, msg, sizeof(msg));
	emit(buf, n, sizeof(buf));
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(lvl, NULL, fmt, ap);
	va_end(ap);
}

void log_comp(enum log_level lvl, const char *comp, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(lvl, comp, fmt, ap);
	va_end(ap);
}

/* Appends an unsigned decimal. */
static size_t put_u64(char *buf, size_t n, size_t cap, unsigned long long v)
{
	char tmp[20];
	size_t len = 0;
	do {
		tmp[len++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (len && n < cap)
		buf[n++] = tmp[--len];
	return n;
}

static size_t put_lit(char *buf, size_t n, size_t cap, const char *s,
		      size_t len)
{
	if (n + len > cap)
		len = n < cap ? cap - n : 0;
	memcpy(buf + n, s, len);
	return n + len;
}

#define PUT_LIT(s) (n = put_lit(buf, n, cap, s, sizeof(s) - 1))

/* One access line, formatted by hand: it is written for every request. */
void log_access(const char *req_id, const char *method, const char *path,
		int status, unsigned long long dur_us, long long user_id)
{
	char buf[1024];
	const size_t cap = sizeof(buf) - 1;
	size_t n;

	if (LOG_INFO < min_level)
		return;
	/* The path is cut so the fields after it always fit. */
	n = put_ts(buf, cap);
	PUT_LIT(" level=info req=");
	n = put_lit(buf, n, cap, req_id, strnlen(req_id, 32));
	PUT_LIT(" method=");
	n = put_token(buf, n, cap, method);
	PUT_LIT(" path=");
	n = put_quoted(buf, n, cap, path, 512);
	PUT_LIT(" status=");
	n = put_u64(buf, n, cap, status > 0 ? (unsigned)status : 0);
	PUT_LIT(" dur_us=");
	n = put_u64(buf, n, cap, dur_us);
	PUT_LIT(" user=");
	if (user_id < 0)
		PUT_LIT("-");
	n = put_u64(buf, n, cap,
		    user_id < 0 ? 0ull - (unsigned long long)user_id
				: (unsigned long long)user_id);
	buf[n++] = '\n';
	batch_line(buf, n);
}
