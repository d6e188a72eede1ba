/*
 * notify_webhook.c - the webhook channel: one JSON POST per delivery to
 * [notify] webhook_url (a practice points it at its SMS gateway), signed
 * with HMAC-SHA256 over the exact body bytes:
 *
 *   X-Atrium-Signature: sha256=<lowercase hex of HMAC(webhook_secret, body)>
 *   X-Atrium-Idempotency-Key: <the delivery's key, the same on every retry>
 *
 * The body is built only from the prepared delivery (title, body, link,
 * kind, user id, key, time the delivery was created), with sorted keys, so
 * a retry sends the same bytes and the same signature. 2xx is delivered;
 * 408, 425, 429 and 5xx, timeouts and connection failures are retried;
 * any other answer is a permanent failure (redirects are not followed).
 * Not an HTTP client library. Delivery thread only.
 */
#include "notify.h"

#include "curl_dyn.h"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

/* The JSON body, malloc'd. */
static char *webhook_body(const struct notify_msg *m)
{
	char when[32];
	json_t *o;
	char *s;

	time_format_rfc3339(m->created_at, when);
	o = json_pack("{s:s,s:s,s:I,s:s,s:s,s:s,s:s}", "idempotency_key",
		      m->key, "kind", m->kind, "user_id",
		      (json_int_t)m->user_id, "title", m->title, "body",
		      m->body, "link", m->link, "created_at", when);
	if (!o)
		return NULL;
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

/* "sha256=<hex>" of body under secret into out. */
static void sign(const char *secret, const char *body, char out[72])
{
	crypto_auth_hmacsha256_state st;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];

	crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret,
				    strlen(secret));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)body,
				      strlen(body));
	crypto_auth_hmacsha256_final(&st, mac);
	memcpy(out, "sha256=", 7);
	sodium_bin2hex(out + 7, 65, mac, sizeof(mac));
	sodium_memzero(&st, sizeof(st));
}

/* Append h to *l; -1 (list untouched) when out of memory. */
static int add_header(struct curl_slist **l, const char *h)
{
	struct curl_slist *n = curl_slist_append(*l, h);
	if (!n)
		return -1;
	*l = n;
	return 0;
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p, (void)ud;
	return size * n;
}

static int progress_cb(void *ud, curl_off_t dt, curl_off_t dn,
		       curl_off_t ut, curl_off_t un)
{
	(void)ud, (void)dt, (void)dn, (void)ut, (void)un;
	return notify_stopping();
}

static enum notify_result classify(long status, char *err, size_t errlen)
{
	if (status >= 200 && status < 300)
		return NOTIFY_SENT;
	snprintf(err, errlen, "webhook answered %ld", status);
	if (status == 408 || status == 425 || status == 429 || status >= 500)
		return NOTIFY_TEMPFAIL;
	return NOTIFY_PERMFAIL;
}

enum notify_result notify_webhook_send(const struct config *cfg,
				       const struct notify_msg *m, char *err,
				       size_t errlen)
{
	char *body = webhook_body(m), sig[72], *h_sig = NULL, *h_key = NULL;
	struct curl_slist *hdrs = NULL;
	CURL *c = NULL;
	CURLcode cc;
	long status = 0;
	enum notify_result r = NOTIFY_TEMPFAIL;

	if (!body) {
		snprintf(err, errlen, "webhook body cannot be built");
		return NOTIFY_PERMFAIL;
	}
	sign(cfg->webhook_secret, body, sig);
	if (asprintf(&h_sig, "X-Atrium-Signature: %s", sig) < 0)
		h_sig = NULL;
	if (asprintf(&h_key, "X-Atrium-Idempotency-Key: %s", m->key) < 0)
		h_key = NULL;
	c = curl_easy_init();
	if (!c || !h_sig || !h_key) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (add_header(&hdrs, "Content-Type: application/json") ||
	    add_header(&hdrs, h_sig) || add_header(&hdrs, h_key) ||
	    add_header(&hdrs, "Expect:")) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, cfg->webhook_url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
			 (curl_off_t)strlen(body));
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "atriumd");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)cfg->notify_timeout);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)cfg->notify_timeout);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_cb);
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		r = classify(status, err, errlen);
	} else if (cc == CURLE_ABORTED_BY_CALLBACK) {
		snprintf(err, errlen, "interrupted by shutdown");
	} else if (cc == CURLE_OPERATION_TIMEDOUT) {
		snprintf(err, errlen, "webhook did not answer within %ds",
			 cfg->notify_timeout);
	} else if (cc == CURLE_URL_MALFORMAT ||
		   cc == CURLE_UNSUPPORTED_PROTOCOL) {
		r = NOTIFY_PERMFAIL;
		snprintf(err, errlen, "webhook_url cannot be used: %s",
			 curl_easy_strerror(cc));
	} else {
		snprintf(err, errlen, "webhook: %s", curl_easy_strerror(cc));
	}
out:
	curl_slist_free_all(hdrs);
	if (c)
		curl_easy_cleanup(c);
	free(h_sig);
	free(h_key);
	free(body);
	return r;
}
