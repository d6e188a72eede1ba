/*
 * totp.c - RFC 6238 one-time passwords with liboath, the otpauth:// URI
 * for authenticator apps and its QR code as SVG with libqrencode.
 *
 * Not here: storing secrets, the last-used step, rate limiting of guesses
 * (the auth layer owns those). Decoded secrets live on the heap only for
 * the length of a call and are wiped before they are freed.
 */
#include "totp.h"

#include <liboath/oath.h>
#include <qrencode.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET_MIN_BYTES 16 /* RFC 4226: at least 128 bits */
#define SECRET_MAX_BYTES 64
#define QR_QUIET 4

/* ---- secrets and codes ------------------------------------------------ */

/* Decode a base32 secret into a malloc'd buffer the caller wipes and frees
 * with secret_free(). Returns 0, or -1 for NULL, bad base32 or a length
 * outside SECRET_MIN_BYTES..SECRET_MAX_BYTES. */
static int secret_decode(const char *b32, char **key, size_t *keylen)
{
	*key = NULL;
	*keylen = 0;
	if (b32 == NULL)
		return -1;
	if (oath_base32_decode(b32, strlen(b32), key, keylen) != OATH_OK) {
		*key = NULL;
		return -1;
	}
	if (*keylen < SECRET_MIN_BYTES || *keylen > SECRET_MAX_BYTES) {
		sodium_memzero(*key, *keylen);
		free(*key);
		*key = NULL;
		return -1;
	}
	return 0;
}

static void secret_free(char *key, size_t keylen)
{
	if (key == NULL)
		return;
	sodium_memzero(key, keylen);
	free(key);
}

int totp_secret_new(char *out, size_t outlen)
{
	unsigned char raw[TOTP_SECRET_BYTES];
	char *b32 = NULL;
	size_t b32len = 0;
	int rc = -1;

	if (out == NULL || outlen < TOTP_SECRET_B32_LEN)
		return -1;
	out[0] = '\0';
	randombytes_buf(raw, sizeof raw);
	if (oath_base32_encode((const char *)raw, sizeof raw, &b32, &b32len))
		goto fail;
	if (b32len != TOTP_SECRET_B32_LEN - 1)
		goto fail;
	memcpy(out, b32, b32len);
	out[b32len] = '\0';
	rc = 0;
fail:
	if (b32 != NULL)
		secret_free(b32, b32len);
	sodium_memzero(raw, sizeof raw);
	return rc;
}

/* Code for absolute step s (0 <= s) into out[7]. Returns 0 or -1. */
static int code_at_step(const char *key, size_t keylen, long long s,
			char out[7])
{
	if (oath_totp_generate(key, keylen, (time_t)(s * TOTP_PERIOD),
			       TOTP_PERIOD, 0, TOTP_DIGITS, out) != OATH_OK)
		return -1;
	return 0;
}

/* Largest time we accept: leaves room for window arithmetic. */
static const long long TIME_MAX_OK = (long long)1 << 40;

int totp_code(const char *b32secret, time_t t, char out[7])
{
	char *key;
	size_t keylen;
	int rc;

	out[0] = '\0';
	if (t < 0 || (long long)t > TIME_MAX_OK)
		return -1;
	if (secret_decode(b32secret, &key, &keylen) != 0)
		return -1;
	rc = code_at_step(key, keylen, (long long)t / TOTP_PERIOD, out);
	if (rc != 0)
		out[0] = '\0';
	secret_free(key, keylen);
	return rc;
}

static int code_well_formed(const char *code)
{
	if (code == NULL)
		return 0;
	for (int i = 0; i < TOTP_DIGITS; i++)
		if (code[i] < '0' || code[i] > '9')
			return 0;
	return code[TOTP_DIGITS] == '\0';
}

int totp_verify(const char *b32secret, const char *code, time_t now, int window,
		long long *step)
{
	char *key = NULL;
	size_t keylen = 0;
	char cand[7];
	long long base;
	int found = 0;
	int best = 0;
	int rc = -1;

	if (!code_well_formed(code) || now < 0 ||
	    (long long)now > TIME_MAX_OK || window < 0 ||
	    window > TOTP_MAX_WINDOW)
		return -1;
	if (secret_decode(b32secret, &key, &keylen) != 0)
		return -1;
	base = (long long)now / TOTP_PERIOD;
	for (int off = -window; off <= window; off++) {
		int match;
		if (base + off < 0)
			continue;
		if (code_at_step(key, keylen, base + off, cand) != 0)
			goto fail;
		match = sodium_memcmp(cand, code, TOTP_DIGITS) == 0;
		/* Keep the match closest to the current step. */
		if (match && (!found || abs(off) < abs(best))) {
			best = off;
			found = 1;
		}
	}
	if (!found)
		goto fail;
	if (step != NULL)
		*step = base + best;
	rc = 0;
fail:
	sodium_memzero(cand, sizeof cand);
	secret_free(key, keylen);
	return rc;
}

/* ---- growable string -------------------------------------------------- */

/* A NUL-terminated heap string; after an allocation failure every append
 * is a no-op and sbuf_finish() returns NULL. */
struct sbuf {
	char *p;
	size_t len;
	size_t cap;
	int failed;
};

static int sbuf_reserve(struct sbuf *b, size_t extra)
{
	size_t need, cap;
	char *np;

	if (b->failed)
		return -1;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	np = realloc(b->p, cap);
	if (np == NULL) {
		b->failed = 1;
		return -1;
	}
	b->p = np;
	b->cap = cap;
	return 0;
}

static void sbuf_addn(struct sbuf *b, const char *s, size_t n)
{
	if (sbuf_reserve(b, n) != 0)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sbuf_adds(struct sbuf *b, const char *s)
{
	sbuf_addn(b, s, strlen(s));
}

static void sbuf_addf(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Append printf-style output of at most 127 bytes (longer fails b). */
static void sbuf_addf(struct sbuf *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof tmp) {
		b->failed = 1;
		return;
	}
	sbuf_addn(b, tmp, (size_t)n);
}

/* Hand the string to the caller (malloc'd) or NULL after a failure. */
static char *sbuf_finish(struct sbuf *b)
{
	if (b->failed || b->p == NULL) {
		free(b->p);
		return NULL;
	}
	return b->p;
}

/* ---- otpauth URI ------------------------------------------------------ */

/* Append s percent-encoded: RFC 3986 unreserved characters stay. */
static void sbuf_add_pct(struct sbuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char c = *p;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~') {
			sbuf_addn(b, (const char *)p, 1);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			sbuf_addn(b, e, 3);
		}
	}
}

char *totp_uri(const char *issuer, const char *account, const char *b32secret)
{
	struct sbuf b = {0};

	if (issuer == NULL || account == NULL || b32secret == NULL)
		return NULL;
	sbuf_adds(&b, "otpauth://totp/");
	sbuf_add_pct(&b, issuer);
	sbuf_adds(&b, ":");
	sbuf_add_pct(&b, account);
	sbuf_adds(&b, "?secret=");
	sbuf_add_pct(&b, b32secret);
	sbuf_adds(&b, "&issuer=");
	sbuf_add_pct(&b, issuer);
	sbuf_adds(&b, "&algorithm=SHA1&digits=6&period=30");
	return sbuf_finish(&b);
}

/* ---- QR code as SVG --------------------------------------------------- */

/* Append s escaped for an XML attribute value; control characters, which
 * XML 1.0 does not allow, become spaces. */
static void sbuf_add_xml(struct sbuf *b, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '&':
			sbuf_adds(b, "&amp;");
			break;
		case '<':
			sbuf_adds(b, "&lt;");
			break;
		case '>':
			sbuf_adds(b, "&gt;");
			break;
		case '"':
			sbuf_adds(b, "&quot;");
			break;
		case '\'':
			sbuf_adds(b, "&apos;");
			break;
		default:
			if (*p < 0x20 || *p == 0x7F)
				sbuf_adds(b, " ");
			else
				sbuf_addn(b, (const char *)p, 1);
		}
	}
}

/* Append one subpath per horizontal run of dark modules. */
static void qr_path(struct sbuf *b, const QRcode *qr)
{
	int w = qr->width;

	for (int y = 0; y < w; y++) {
		int x = 0;
		while (x < w) {
			if (!(qr->data[y * w + x] & 1)) {
				x++;
				continue;
			}
			int x0 = x;
			while (x < w && (qr->data[y * w + x] & 1))
				x++;
			sbuf_addf(b, "M%d %dh%dv1h-%dz", x0 + QR_QUIET,
				  y + QR_QUIET, x - x0, x - x0);
		}
	}
}

char *qr_svg(const char *text, const char *aria_label)
{
	struct sbuf b = {0};
	QRcode *qr;
	int n;

	if (text == NULL)
		return NULL;
	qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	if (qr == NULL)
		return NULL;
	n = qr->width + 2 * QR_QUIET;
	sbuf_addf(&b,
		  "<svg xmlns=\"http://www.w3.org/2000/svg\" "
		  "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"",
		  n, n);
	sbuf_add_xml(&b, aria_label != NULL ? aria_label : "QR code");
	sbuf_addf(&b,
		  "\" shape-rendering=\"crispEdges\">"
		  "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>"
		  "<path fill=\"#000\" d=\"",
		  n, n);
	qr_path(&b, qr);
	sbuf_adds(&b, "\"/></svg>\n");
	QRcode_free(qr);
	return sbuf_finish(&b);
}
