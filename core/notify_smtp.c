/*
 * notify_smtp.c - the email channel: builds one plain-text RFC 5322 message
 * and hands it to an SMTP server with libcurl (STARTTLS, credentials and a
 * bounded wait as [notify] says).
 *
 * Every header value is rebuilt here from clean parts: control characters
 * are removed, non-ASCII text goes into RFC 2047 encoded words, addresses
 * were checked by notify_address_ok, and the Message-ID is derived from the
 * delivery's idempotency key so a retry of the same notification carries
 * the same Message-ID. Not a mail library: one text part, no attachments,
 * no HTML. Delivery thread only (notify_smtp_message: any thread).
 */
#include "notify.h"

#include "curl_dyn.h"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORD_RAW 45 /* bytes per encoded word: 60 base64 characters */

struct buf {
	char *p;
	size_t len, cap;
	int oom;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->cap ? b->cap * 2 : 1024) + n;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static int plain_ascii(const char *s, const char *extra)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c > 0x7E || (extra && !strchr(extra, c) &&
					     !((c >= 'a' && c <= 'z') ||
					       (c >= 'A' && c <= 'Z') ||
					       (c >= '0' && c <= '9'))))
			return 0;
	}
	return 1;
}

/* s as one or more RFC 2047 "B" encoded words, folded. */
static void encoded_words(struct buf *b, const char *s)
{
	size_t n = strlen(s);
	int first = 1;

	while (n) {
		size_t take = n < WORD_RAW ? n : WORD_RAW;
		char enc[sodium_base64_ENCODED_LEN(WORD_RAW,
						   sodium_base64_VARIANT_ORIGINAL)];
		while (take < n && take && ((unsigned char)s[take] & 0xC0) ==
						   0x80)
			take--; /* keep UTF-8 sequences whole */
		sodium_bin2base64(enc, sizeof(enc), (const unsigned char *)s,
				  take, sodium_base64_VARIANT_ORIGINAL);
		if (!first)
			puts_(b, "\r\n ");
		puts_(b, "=?UTF-8?B?");
		puts_(b, enc);
		puts_(b, "?=");
		first = 0;
		s += take, n -= take;
	}
}

/* A header line "Name: value" with value already safe. */
static void header(struct buf *b, const char *name, const char *value)
{
	puts_(b, name);
	puts_(b, ": ");
	puts_(b, value);
	puts_(b, "\r\n");
}

/* Unstructured text (Subject): plain when printable ASCII that cannot be
 * mistaken for an encoded word, else encoded words. */
static void text_header(struct buf *b, const char *name, const char *raw)
{
	char *v = strdup(raw);
	if (!v) {
		b->oom = 1;
		return;
	}
	notify_clean_line(v);
	notify_truncate(v, NOTIFY_TITLE_MAX);
	puts_(b, name);
	puts_(b, ": ");
	if (plain_ascii(v, NULL) && !strstr(v, "=?"))
		puts_(b, v);
	else
		encoded_words(b, v);
	puts_(b, "\r\n");
	free(v);
}

static void date_header(struct buf *b, time_t t)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed",
					   "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr",
					     "May", "Jun", "Jul", "Aug",
					     "Sep", "Oct", "Nov", "Dec"};
	struct tm g;
	char v[64];

	gmtime_r(&t, &g);
	snprintf(v, sizeof(v), "%s, %02d %s %04d %02d:%02d:%02d +0000",
		 days[g.tm_wday], g.tm_mday, months[g.tm_mon],
		 g.tm_year + 1900, g.tm_hour, g.tm_min, g.tm_sec);
	header(b, "Date", v);
}

/* Body: LF -> CRLF when it is short-lined ASCII, else base64. */
static void body_part(struct buf *b, const char *text)
{
	int ascii = 1;
	size_t line = 0;

	for (const char *p = text; *p; p++) {
		if (*p == '\n') {
			line = 0;
			continue;
		}
		if ((unsigned char)*p > 0x7E ||
		    ((unsigned char)*p < 0x20 && *p != '\t') || ++line > 900)
			ascii = 0;
	}
	header(b, "Content-Type", "text/plain; charset=utf-8");
	header(b, "Content-Transfer-Encoding", ascii ? "7bit" : "base64");
	puts_(b, "\r\n");
	if (ascii) {
		for (const char *p = text; *p; p++) {
			if (*p == '\n')
				put(b, "\r\n", 2);
			else
				put(b, p, 1);
		}
		puts_(b, "\r\n");
		return;
	}
	for (size_t n = strlen(text), off = 0; off < n; off += 57) {
		size_t take = n - off < 57 ? n - off : 57;
		char enc[sodium_base64_ENCODED_LEN(
		    57, sodium_base64_VARIANT_ORIGINAL)];
		sodium_bin2base64(enc, sizeof(enc),
				  (const unsigned char *)text + off, take,
				  sodium_base64_VARIANT_ORIGINAL);
		puts_(b, enc);
		puts_(b, "\r\n");
	}
}

char *notify_smtp_message(const struct config *cfg,
			  const struct notify_msg *m, time_t date)
{
	struct buf b = {0};
	const char *from = cfg->smtp_from, *domain = strchr(from, '@');
	char *name = strdup(cfg->practice_name ? cfg->practice_name : "");
	char *v = NULL;

	if (!name || !domain || !notify_address_ok(from) ||
	    !notify_address_ok(m->to)) {
		free(name);
		return NULL;
	}
	domain++;
	notify_clean_line(name);
	notify_truncate(name, 100);
	date_header(&b, date);
	puts_(&b, "From: ");
	if (*name) {
		if (plain_ascii(name, " "))
			puts_(&b, name);
		else
			encoded_words(&b, name);
		puts_(&b, " ");
	}
	puts_(&b, "<");
	puts_(&b, from);
	puts_(&b, ">\r\n");
	header(&b, "To", m->to);
	text_header(&b, "Subject", m->title);
	if (asprintf(&v, "<%s@%s>", m->key, domain) < 0)
		v = NULL;
	if (!v || !plain_ascii(m->key, "._-")) {
		free(v);
		free(name);
		free(b.p);
		return NULL;
	}
	header(&b, "Message-ID", v);
	free(v);
	header(&b, "X-Atrium-Idempotency-Key", m->key);
	header(&b, "Auto-Submitted", "auto-generated");
	header(&b, "MIME-Version", "1.0");
	body_part(&b, m->body);
	free(name);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

/* ---- libcurl ------------------------------------------------------------ */

struct upload {
	const char *p;
	size_t left;
};

static size_t read_cb(char *dst, size_t size, size_t nitems, void *ud)
{
	struct upload *u = ud;
	size_t n = size * nitems;

	if (n > u->left)
		n = u->left;
	memcpy(dst, u->p, n);
	u->p += n;
	u->left -= n;
	return n;
}

static int progress_cb(void *ud, curl_off_t dt, curl_off_t dn,
		       curl_off_t ut, curl_off_t un)
{
	(void)ud, (void)dt, (void)dn, (void)ut, (void)un;
	return notify_stopping(); /* non-zero aborts the transfer */
}

enum notify_result notify_smtp_send(const struct config *cfg,
				    const struct notify_msg *m, char *err,
				    size_t errlen)
{
	char *msg = notify_smtp_message(cfg, m, time(NULL));
	char from[NOTIFY_ADDRESS_MAX + 3], to[NOTIFY_ADDRESS_MAX + 3];
	struct curl_slist *rcpt = NULL;
	struct upload u;
	CURL *c = NULL;
	CURLcode cc;
	long code = 0;
	enum notify_result r = NOTIFY_TEMPFAIL;

	if (!msg) {
		snprintf(err, errlen, "message cannot be built (bad address)");
		return NOTIFY_PERMFAIL;
	}
	snprintf(from, sizeof(from), "<%s>", cfg->smtp_from);
	snprintf(to, sizeof(to), "<%s>", m->to);
	u.p = msg;
	u.left = strlen(msg);
	c = curl_easy_init();
	rcpt = curl_slist_append(NULL, to);
	if (!c || !rcpt) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, cfg->smtp_url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(c, CURLOPT_READDATA, &u);
	curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)u.left);
	curl_easy_setopt(c, CURLOPT_USE_SSL,
			 cfg->smtp_starttls ? (long)CURLUSESSL_ALL
					    : (long)CURLUSESSL_TRY);
	if (cfg->smtp_user && *cfg->smtp_user) {
		curl_easy_setopt(c, CURLOPT_USERNAME, cfg->smtp_user);
		curl_easy_setopt(c, CURLOPT_PASSWORD,
				 cfg->smtp_password ? cfg->smtp_password : "");
	}
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)cfg->notify_timeout);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)cfg->notify_timeout);
	/* Also bounds the wait for the answer to QUIT when the connection is
	 * closed (libcurl's default is 120 s): an attempt takes at most twice
	 * the timeout, which the claim's lease covers. */
	curl_easy_setopt(c, CURLOPT_SERVER_RESPONSE_TIMEOUT,
			 (long)cfg->notify_timeout);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_cb);
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (cc == CURLE_OK) {
		r = NOTIFY_SENT;
	} else if (cc == CURLE_ABORTED_BY_CALLBACK) {
		snprintf(err, errlen, "interrupted by shutdown");
	} else if (code >= 500 && code < 600) {
		r = NOTIFY_PERMFAIL;
		snprintf(err, errlen, "smtp server refused the message (%ld)",
			 code);
	} else if (cc == CURLE_URL_MALFORMAT ||
		   cc == CURLE_UNSUPPORTED_PROTOCOL) {
		r = NOTIFY_PERMFAIL;
		snprintf(err, errlen, "smtp_url cannot be used: %s",
			 curl_easy_strerror(cc));
	} else if (cc == CURLE_OPERATION_TIMEDOUT) {
		snprintf(err, errlen, "smtp server did not answer within %ds",
			 cfg->notify_timeout);
	} else {
		snprintf(err, errlen, "smtp: %s%s%.0ld%s",
			 curl_easy_strerror(cc), code ? " (" : "", code,
			 code ? ")" : "");
	}
out:
	curl_slist_free_all(rcpt);
	if (c)
		curl_easy_cleanup(c);
	free(msg);
	return r;
}
