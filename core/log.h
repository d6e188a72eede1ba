/*
 * log.h - structured logging to stderr, one line per event, key=value pairs.
 * Lines never interleave: a message is written with a single write(2); the
 * per-request access lines are batched per thread and written whole, within
 * about 100 ms (see log.c), so the hot path makes no system call. Callers
 * must never pass bodies, cookies, tokens or passwords: nothing here
 * filters them (token path parameters are redacted by the caller).
 */
#ifndef ATRIUM_LOG_H
#define ATRIUM_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level min);
/* "ts=... level=info msg="..."" - msg is quoted and escaped. */
void log_msg(enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Same, with a leading component tag: "comp=plugin:billing". */
void log_comp(enum log_level lvl, const char *comp, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The access line of one request. */
void log_access(const char *req_id, const char *method, const char *path,
		int status, unsigned long long dur_us, long long user_id);

#endif
