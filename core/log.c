/*
 * log.c - see log.h. Formats into a stack buffer and writes it once.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level min)
{
	min_level = min;
}

static size_t put_ts(char *buf, size_t cap)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, cap, "ts=%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(buf + n, cap - n, ".%03ldZ",
			      ts.tv_nsec / 1000000);
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

static void emit(char *buf, size_t n, size_t cap)
{
	if (n >= cap)
		n = cap - 1;
	buf[n++] = '\n';
	if (write(STDERR_FILENO, buf, n) < 0) {
		/* nowhere left to report it */
	}
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

void log_access(const char *req_id, const char *method, const char *path,
		int status, unsigned long long dur_us, long long user_id)
{
	char buf[1024];
	size_t n;

	if (LOG_INFO < min_level)
		return;
	/* The path is cut so the fields after it always fit. */
	n = put_ts(buf, sizeof(buf) - 1);
	n += (size_t)snprintf(buf + n, sizeof(buf) - 1 - n,
			      " level=info req=%s method=", req_id);
	n = put_token(buf, n, sizeof(buf) - 1, method);
	n += (size_t)snprintf(buf + n, sizeof(buf) - 1 - n, " path=");
	n = put_quoted(buf, n, sizeof(buf) - 1, path, 512);
	n += (size_t)snprintf(buf + n, sizeof(buf) - 1 - n,
			      " status=%d dur_us=%llu user=%lld", status,
			      dur_us, user_id);
	emit(buf, n, sizeof(buf));
}
