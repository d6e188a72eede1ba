/*
 * totp.h - time-based one-time passwords (RFC 6238: HMAC-SHA1, 6 digits,
 * 30-second steps) and the enrolment helpers: otpauth:// URI and its QR
 * code as SVG.
 *
 * This is the arithmetic only. It does not store secrets or remember which
 * step was last used: totp_verify() reports the step so the caller can
 * refuse a replay (step <= last accepted step) and persist the new one.
 *
 * Threads: any, after crypto_init() (which initialises liboath).
 */
#ifndef ATRIUM_TOTP_H
#define ATRIUM_TOTP_H

#include <stddef.h>
#include <time.h>

#define TOTP_SECRET_BYTES 20   /* 160-bit secret, as RFC 4226 recommends */
#define TOTP_SECRET_B32_LEN 33 /* 32 base32 characters and a NUL */
#define TOTP_PERIOD 30
#define TOTP_DIGITS 6
#define TOTP_MAX_WINDOW 10 /* largest window totp_verify() accepts */

/* Write a new random 20-byte secret as RFC 4648 base32 without padding
 * (32 characters and a NUL) into out. Returns 0, or -1 when outlen < 33. */
int totp_secret_new(char *out, size_t outlen);

/* Check a 6-digit code against the secret for the steps now/30 - window
 * .. now/30 + window (0 <= window <= TOTP_MAX_WINDOW). Every candidate is
 * computed and compared in constant time. On a match returns 0 and, when
 * step is not NULL, stores the matching absolute step (now/30 + offset;
 * the offset closest to 0 wins). Returns -1 on a wrong code or malformed
 * input: code not exactly 6 ASCII digits, secret not base32 or shorter
 * than 16 bytes decoded, negative now, window out of range. */
int totp_verify(const char *b32secret, const char *code, time_t now, int window,
		long long *step);

/* Write the code for time t (6 digits and a NUL) into out. Returns 0, or
 * -1 (out set to "") for a bad secret or negative t. */
int totp_code(const char *b32secret, time_t t, char out[7]);

/* Build "otpauth://totp/ISSUER:ACCOUNT?secret=S&issuer=ISSUER&algorithm=SHA1
 * &digits=6&period=30" with issuer and account percent-encoded (everything
 * but A-Z a-z 0-9 - . _ ~). Returns a malloc'd string the caller frees, or
 * NULL when an argument is NULL or memory runs out. */
char *totp_uri(const char *issuer, const char *account, const char *b32secret);

/* Render text as a QR code (ECC level M, 8-bit mode) in a standalone SVG
 * document: <svg xmlns viewBox role="img" aria-label>, a white background
 * rect, one <path> of the dark modules, a 4-module quiet zone; one user
 * unit per module, so size it with CSS. aria_label is XML-escaped (NULL
 * gives "QR code"). Returns a malloc'd string the caller frees, or NULL
 * when text is NULL, too long for a QR code, or memory runs out. */
char *qr_svg(const char *text, const char *aria_label);

#endif
