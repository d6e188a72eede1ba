/*
 * crypto.c - identity primitives on top of libsodium and cracklib.
 *
 * Password hashing (argon2id with a settable cost and a dummy verify for
 * unknown users), the new-password policy, random tokens, SHA-256 hex,
 * constant-time comparison and recovery codes. It is not where accounts,
 * sessions or login throttling live; it keeps no state beyond the hashing
 * cost and the cached dummy hash, both behind mutexes.
 *
 * cracklib's FascistCheckUser() keeps static buffers, so every call goes
 * through crack_lock. We pass it the user name explicitly: FascistCheck()
 * would instead look up the daemon's own uid in the password file and
 * reject every password when that uid has no entry (as in many containers).
 */
#include "crypto.h"

#include <crack.h>
#include <liboath/oath.h>
#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Static_assert(PW_HASH_MAX >= crypto_pwhash_STRBYTES,
	       "PW_HASH_MAX must hold a libsodium pwhash string");
_Static_assert(TOKEN_STR_LEN ==
		       sodium_base64_ENCODED_LEN(
			       32, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
	       "TOKEN_STR_LEN must hold 32 bytes in base64url");

#define PW_MIN_CP 12
#define PW_MAX_CP 128
#define PW_MAX_BYTES (PW_MAX_CP * 4)
#define PW_MIN_DISTINCT 5
#define PW_MIN_UNPREDICTABLE 6
#define NAME_MIN_CP 3
#define PW_MIN_RUN 4
#define CRACK_MIN_CORE 6
#define CRACK_LONG 16

static const char *const R_UTF8 = "password is not valid utf-8";
static const char *const R_CONTROL =
	"password must not contain control characters";
static const char *const R_SHORT = "password must be at least 12 characters";
static const char *const R_LONG = "password must be at most 128 characters";
static const char *const R_USER = "password must not contain the username";
static const char *const R_WEAK = "password is too common or easy to guess";
static const char *const R_NODICT = "password strength check is unavailable";

/* cracklib's untranslated verdicts that we treat specially (a process
 * that sets a message locale gets translations, which then count as an
 * ordinary rejection: stricter, never weaker). */
static const char *const CRACK_NODICT = "error loading dictionary";
static const char *const CRACK_SYSTEMATIC = "it is too simplistic/systematic";

static pthread_mutex_t pw_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long long pw_ops = PW_OPSLIMIT_DEFAULT;
static size_t pw_mem = PW_MEMLIMIT_DEFAULT;

/* The dummy hash and the cost it was made with; guarded by dummy_lock. */
static pthread_mutex_t dummy_lock = PTHREAD_MUTEX_INITIALIZER;
static char dummy_hash[PW_HASH_MAX];
static unsigned long long dummy_ops;
static size_t dummy_mem;

static pthread_mutex_t crack_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- init ------------------------------------------------------------- */

/* 0 when the cracklib dictionary files at the default path are readable. */
static int crack_dict_check(void)
{
	static const char *const ext[] = {".pwd", ".pwi", ".hwm"};
	const char *base = GetDefaultCracklibDict();
	char path[4096];

	for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
		int n = snprintf(path, sizeof path, "%s%s", base, ext[i]);
		if (n < 0 || (size_t)n >= sizeof path ||
		    access(path, R_OK) != 0) {
			fprintf(stderr,
				"crypto: cracklib dictionary '%s' not readable"
				" (install cracklib-runtime)\n",
				path);
			return -1;
		}
	}
	return 0;
}

int crypto_init(void)
{
	if (sodium_init() < 0) {
		fprintf(stderr, "crypto: libsodium failed to initialise\n");
		return -1;
	}
	if (oath_init() != OATH_OK) {
		fprintf(stderr, "crypto: liboath failed to initialise\n");
		return -1;
	}
	return crack_dict_check();
}

/* ---- password hashing ------------------------------------------------- */

void crypto_set_pw_params(unsigned long long opslimit, size_t memlimit)
{
	if (opslimit < crypto_pwhash_argon2id_OPSLIMIT_MIN)
		opslimit = crypto_pwhash_argon2id_OPSLIMIT_MIN;
	if (opslimit > crypto_pwhash_argon2id_OPSLIMIT_MAX)
		opslimit = crypto_pwhash_argon2id_OPSLIMIT_MAX;
	if (memlimit < crypto_pwhash_argon2id_MEMLIMIT_MIN)
		memlimit = crypto_pwhash_argon2id_MEMLIMIT_MIN;
	if (memlimit > crypto_pwhash_argon2id_MEMLIMIT_MAX)
		memlimit = crypto_pwhash_argon2id_MEMLIMIT_MAX;
	pthread_mutex_lock(&pw_lock);
	pw_ops = opslimit;
	pw_mem = memlimit;
	pthread_mutex_unlock(&pw_lock);
}

/* Read the current cost as one consistent pair. */
static void pw_params(unsigned long long *ops, size_t *mem)
{
	pthread_mutex_lock(&pw_lock);
	*ops = pw_ops;
	*mem = pw_mem;
	pthread_mutex_unlock(&pw_lock);
}

int pw_hash(const char *pw, size_t len, char out[PW_HASH_MAX])
{
	unsigned long long ops;
	size_t mem;

	out[0] = '\0';
	if (pw == NULL)
		return -1;
	pw_params(&ops, &mem);
	if (crypto_pwhash_str_alg(out, pw, len, ops, mem,
				  crypto_pwhash_ALG_ARGON2ID13) != 0) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

int pw_verify(const char *hash, const char *pw, size_t len)
{
	if (hash == NULL || pw == NULL || hash[0] == '\0' ||
	    strnlen(hash, PW_HASH_MAX) == PW_HASH_MAX)
		return -1;
	return crypto_pwhash_str_verify(hash, pw, len) == 0 ? 0 : -1;
}

int pw_needs_rehash(const char *hash)
{
	unsigned long long ops;
	size_t mem;

	if (hash == NULL || strnlen(hash, PW_HASH_MAX) == PW_HASH_MAX)
		return 1;
	if (strncmp(hash, crypto_pwhash_argon2id_STRPREFIX,
		    strlen(crypto_pwhash_argon2id_STRPREFIX)) != 0)
		return 1;
	pw_params(&ops, &mem);
	/* 1 when the parameters differ, -1 when the string is malformed. */
	return crypto_pwhash_argon2id_str_needs_rehash(hash, ops, mem) != 0;
}

/* Copy a hash made with the current cost into out, building it first when
 * the cost changed since the last build. Returns 0, or -1 when hashing ran
 * out of memory. */
static int dummy_get(char out[PW_HASH_MAX])
{
	unsigned long long ops;
	size_t mem;
	unsigned char secret[32];
	int rc = 0;

	pw_params(&ops, &mem);
	pthread_mutex_lock(&dummy_lock);
	if (dummy_hash[0] == '\0' || dummy_ops != ops || dummy_mem != mem) {
		randombytes_buf(secret, sizeof secret);
		if (crypto_pwhash_str_alg(dummy_hash, (const char *)secret,
					  sizeof secret, ops, mem,
					  crypto_pwhash_ALG_ARGON2ID13) != 0) {
			dummy_hash[0] = '\0';
			rc = -1;
			goto done;
		}
		dummy_ops = ops;
		dummy_mem = mem;
	}
	memcpy(out, dummy_hash, PW_HASH_MAX);
done:
	pthread_mutex_unlock(&dummy_lock);
	sodium_memzero(secret, sizeof secret);
	return rc;
}

void pw_dummy_verify(const char *pw, size_t len)
{
	char hash[PW_HASH_MAX];

	if (pw == NULL) {
		pw = "";
		len = 0;
	}
	if (dummy_get(hash) == 0) {
		(void)pw_verify(hash, pw, len);
		return;
	}
	/* No dummy hash: hashing costs the same as verifying. */
	(void)pw_hash(pw, len, hash);
}

/* ---- password policy -------------------------------------------------- */

/* Decode len bytes of UTF-8 into cp (room for max code points; the rest
 * are counted but not stored). Rejects overlong forms, surrogates and
 * values above U+10FFFF. Returns the number of code points, or -1. */
static long utf8_decode(const unsigned char *s, size_t len, uint32_t *cp,
			size_t max)
{
	static const uint32_t min_for[5] = {0, 0, 0x80, 0x800, 0x10000};
	size_t i = 0;
	long n = 0;

	while (i < len) {
		unsigned char b = s[i];
		uint32_t v;
		size_t k;

		if (b < 0x80) {
			v = b;
			k = 1;
		} else if ((b & 0xE0) == 0xC0) {
			v = b & 0x1F;
			k = 2;
		} else if ((b & 0xF0) == 0xE0) {
			v = b & 0x0F;
			k = 3;
		} else if ((b & 0xF8) == 0xF0) {
			v = b & 0x07;
			k = 4;
		} else {
			return -1;
		}
		if (len - i < k)
			return -1;
		for (size_t j = 1; j < k; j++) {
			if ((s[i + j] & 0xC0) != 0x80)
				return -1;
			v = (v << 6) | (s[i + j] & 0x3F);
		}
		if (v < min_for[k] || v > 0x10FFFF ||
		    (v >= 0xD800 && v <= 0xDFFF))
			return -1;
		if ((size_t)n < max)
			cp[n] = v;
		n++;
		i += k;
	}
	return n;
}

static int is_control(uint32_t c)
{
	return c < 0x20 || c == 0x7F || (c >= 0x80 && c <= 0x9F);
}

static uint32_t ascii_lower(uint32_t c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/* 1 when the sequence repeats a unit no longer than half of it
 * ("abcabcabc", "dragondragon"), ignoring ASCII case. */
static int is_periodic(const uint32_t *cp, size_t n)
{
	for (size_t p = 1; p <= n / 2; p++) {
		size_t i = 0;
		while (i + p < n &&
		       ascii_lower(cp[i]) == ascii_lower(cp[i + p]))
			i++;
		if (i + p == n)
			return 1;
	}
	return 0;
}

/* Number of different code points, ignoring ASCII case. */
static size_t distinct_count(const uint32_t *cp, size_t n)
{
	size_t d = 0;

	for (size_t i = 0; i < n; i++) {
		size_t j = 0;
		while (j < i && ascii_lower(cp[j]) != ascii_lower(cp[i]))
			j++;
		if (j == i)
			d++;
	}
	return d;
}

/* A US keyboard: each row unshifted, its shifted twin, and where its first
 * key sits in quarter-key units (rows are staggered). */
static const struct {
	const char *keys;
	const char *shifted;
	int x0;
} kbd_rows[] = {
	{"`1234567890-=", "~!@#$%^&*()_+", 0},
	{"qwertyuiop[]\\", "QWERTYUIOP{}|", 6},
	{"asdfghjkl;'", "ASDFGHJKL:\"", 7},
	{"zxcvbnm,./", "ZXCVBNM<>?", 9},
};

/* Row and horizontal position (quarter keys) of ASCII c; -1 if none. */
static int kbd_pos(uint32_t c, int *row, int *x)
{
	if (c == 0 || c > 0x7E)
		return -1;
	for (int r = 0; r < (int)(sizeof kbd_rows / sizeof kbd_rows[0]); r++) {
		const char *p = strchr(kbd_rows[r].keys, (int)c);
		const char *base = kbd_rows[r].keys;
		if (p == NULL) {
			p = strchr(kbd_rows[r].shifted, (int)c);
			base = kbd_rows[r].shifted;
		}
		if (p != NULL) {
			*row = r;
			*x = kbd_rows[r].x0 + 4 * (int)(p - base);
			return 0;
		}
	}
	return -1;
}

/* 1 when a and b are neighbouring keys, on one row or diagonally on the
 * rows above or below ("qwe", "1qaz", "zaq"). */
static int kbd_adjacent(uint32_t a, uint32_t b)
{
	int ra, xa, rb, xb;

	if (kbd_pos(a, &ra, &xa) != 0 || kbd_pos(b, &rb, &xb) != 0)
		return 0;
	if (ra == rb)
		return abs(xa - xb) == 4;
	return abs(ra - rb) == 1 && abs(xa - xb) <= 3;
}

/* 1 when b follows a predictably: the same character, the next or previous
 * letter or digit, or a neighbouring key. */
static int predictable_pair(uint32_t a, uint32_t b)
{
	a = ascii_lower(a);
	b = ascii_lower(b);
	if (a == b)
		return 1;
	if (a == 0 || b == 0 || a > 0x7E || b > 0x7E)
		return 0;
	if (((a >= 'a' && a <= 'z' && b >= 'a' && b <= 'z') ||
	     (a >= '0' && a <= '9' && b >= '0' && b <= '9')) &&
	    (a + 1 == b || b + 1 == a))
		return 1;
	return kbd_adjacent(a, b);
}

/* Code points not inside a run of PW_MIN_RUN or more characters joined by
 * predictable steps ("qwerty", "1234", "dcba", "aaaa", "1qaz"). */
static size_t unpredictable_count(const uint32_t *cp, size_t n)
{
	size_t covered = 0;
	size_t i = 0;

	while (i < n) {
		size_t j = i;
		while (j + 1 < n && predictable_pair(cp[j], cp[j + 1]))
			j++;
		if (j - i + 1 >= PW_MIN_RUN)
			covered += j - i + 1;
		i = j + 1;
	}
	return n - covered;
}

static unsigned char byte_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* 1 when needle (nlen > 0 bytes) occurs in hay, ignoring ASCII case. */
static int contains_ci(const char *hay, size_t hlen, const char *needle,
		       size_t nlen)
{
	const unsigned char *h = (const unsigned char *)hay;
	const unsigned char *n = (const unsigned char *)needle;

	for (size_t i = 0; i + nlen <= hlen; i++) {
		size_t j = 0;
		while (j < nlen && byte_lower(h[i + j]) == byte_lower(n[j]))
			j++;
		if (j == nlen)
			return 1;
	}
	return 0;
}

/* Code points in the first len bytes of valid or invalid UTF-8: counts
 * every byte that is not a continuation byte. */
static size_t cp_count(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			n++;
	return n;
}

/* 1 when pw contains the user name, or the local part of an e-mail user
 * name, of at least NAME_MIN_CP code points. */
static int contains_username(const char *pw, size_t len, const char *user)
{
	size_t ulen;
	const char *at;

	if (user == NULL)
		return 0;
	ulen = strlen(user);
	if (cp_count(user, ulen) >= NAME_MIN_CP &&
	    contains_ci(pw, len, user, ulen))
		return 1;
	at = strchr(user, '@');
	if (at != NULL && cp_count(user, (size_t)(at - user)) >= NAME_MIN_CP &&
	    contains_ci(pw, len, user, (size_t)(at - user)))
		return 1;
	return 0;
}

/* Ask cracklib about pw (NUL-terminated). Returns NULL, R_WEAK or
 * R_NODICT. Its "systematic" test counts neighbouring letters such as "st"
 * or "ed" against a bound that grows slowly with length, so it rejects
 * ordinary passphrases; from CRACK_LONG bytes on we rely on
 * unpredictable_count() instead. Any thread. */
static const char *crack_check(const char *pw, const char *user)
{
	const char *res;

	pthread_mutex_lock(&crack_lock);
	res = FascistCheckUser(pw, GetDefaultCracklibDict(),
			       user != NULL ? user : "", NULL);
	pthread_mutex_unlock(&crack_lock);
	if (res == NULL)
		return NULL;
	if (strcmp(res, CRACK_NODICT) == 0)
		return R_NODICT;
	if (strcmp(res, CRACK_SYSTEMATIC) == 0 && strlen(pw) >= CRACK_LONG)
		return NULL;
	return R_WEAK;
}

/* 1 for a space, ASCII digit or ASCII punctuation. */
static int is_strip_byte(unsigned char c)
{
	unsigned char l = byte_lower(c);

	return c >= ' ' && c < 0x7F && !(l >= 'a' && l <= 'z');
}

/* Undo look-alike substitutions in s ("p@ssw0rd" -> "password"); cracklib
 * knows some of them but not '@', '!', '+' or '7', and not all at once.
 * Returns 1 when anything changed. */
static int unleet(char *s)
{
	static const char from[] = "@4!|3$5+70";
	static const char to[] = "aailesstto";
	int changed = 0;

	_Static_assert(sizeof from == sizeof to, "unleet tables");
	for (; *s != '\0'; s++) {
		const char *p = strchr(from, *s);
		if (p != NULL) {
			*s = to[p - from];
			changed = 1;
		}
	}
	return changed;
}

/* Run cracklib on the password, then on its core without leading and
 * trailing digits, punctuation and spaces ("Summer2024!!" -> "Summer"),
 * since cracklib itself trims at most three, then on that core with
 * look-alikes undone. The core is only checked when it is at least
 * CRACK_MIN_CORE bytes and half the password: cracklib trims up to three
 * more characters from it, and a short core of a random password would
 * too often leave a short dictionary word. buf holds len bytes plus a NUL
 * and is modified. */
static const char *crack_policy(char *buf, size_t len, const char *user)
{
	const char *why = crack_check(buf, user);
	size_t start = 0;
	size_t end = len;

	if (why != NULL)
		return why;
	while (start < end && is_strip_byte((unsigned char)buf[start]))
		start++;
	while (end > start && is_strip_byte((unsigned char)buf[end - 1]))
		end--;
	if (end - start < CRACK_MIN_CORE || 2 * (end - start) < len)
		return NULL;
	buf[end] = '\0';
	if (start != 0 || end != len) {
		why = crack_check(buf + start, user);
		if (why != NULL)
			return why;
	}
	if (unleet(buf + start))
		why = crack_check(buf + start, user);
	return why;
}

const char *pw_policy_check_n(const char *pw, size_t len, const char *username)
{
	uint32_t cp[PW_MAX_CP + 1];
	char buf[PW_MAX_BYTES + 1];
	const char *why = NULL;
	long n;

	if (pw == NULL)
		return R_SHORT;
	n = utf8_decode((const unsigned char *)pw, len, cp, PW_MAX_CP + 1);
	if (n < 0)
		return R_UTF8;
	for (long i = 0; i < n && i <= PW_MAX_CP; i++)
		if (is_control(cp[i]))
			return R_CONTROL;
	if (n > PW_MAX_CP)
		return R_LONG;
	if (n < PW_MIN_CP)
		return R_SHORT;
	if (contains_username(pw, len, username))
		return R_USER;
	if (is_periodic(cp, (size_t)n) ||
	    distinct_count(cp, (size_t)n) < PW_MIN_DISTINCT ||
	    unpredictable_count(cp, (size_t)n) < PW_MIN_UNPREDICTABLE)
		return R_WEAK;
	/* n <= PW_MAX_CP code points of at most 4 bytes each. */
	memcpy(buf, pw, len);
	buf[len] = '\0';
	why = crack_policy(buf, len, username);
	sodium_memzero(buf, sizeof buf);
	sodium_memzero(cp, sizeof cp);
	return why;
}

const char *pw_policy_check(const char *pw, const char *username)
{
	if (pw == NULL)
		return R_SHORT;
	return pw_policy_check_n(pw, strlen(pw), username);
}

/* ---- tokens, hashing, comparison -------------------------------------- */

void token_new(char out[TOKEN_STR_LEN])
{
	unsigned char raw[32];

	randombytes_buf(raw, sizeof raw);
	sodium_bin2base64(out, TOKEN_STR_LEN, raw, sizeof raw,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof raw);
}

void sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char digest[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(digest, (const unsigned char *)data, len);
	sodium_bin2hex(out, 65, digest, sizeof digest);
}

int ct_equal(const char *a, const char *b)
{
	size_t la;

	if (a == NULL || b == NULL)
		return 0;
	la = strlen(a);
	if (la != strlen(b))
		return 0;
	if (la == 0)
		return 1;
	return sodium_memcmp(a, b, la) == 0;
}

void random_bytes(void *buf, size_t n)
{
	randombytes_buf(buf, n);
}

/* ---- recovery codes --------------------------------------------------- */

/* Crockford's base32 alphabet in lower case: no i, l, o or u. */
static const char RC_ALPHABET[] = "0123456789abcdefghjkmnpqrstvwxyz";
#define RC_SYMBOLS 12

void recovery_code_new(char out[RECOVERY_CODE_LEN])
{
	size_t o = 0;

	for (int i = 0; i < RC_SYMBOLS; i++) {
		if (i > 0 && i % 4 == 0)
			out[o++] = '-';
		out[o++] = RC_ALPHABET[randombytes_uniform(32)];
	}
	out[o] = '\0';
}

int recovery_code_normalise(const char *in, char out[RECOVERY_CODE_LEN])
{
	size_t n = 0;

	out[0] = '\0';
	if (in == NULL)
		return -1;
	for (; *in != '\0'; in++) {
		char c = (char)byte_lower((unsigned char)*in);
		if (c == '-' || c == ' ')
			continue;
		if (c == 'o')
			c = '0';
		else if (c == 'i' || c == 'l')
			c = '1';
		if (strchr(RC_ALPHABET, c) == NULL || n == RC_SYMBOLS)
			goto fail;
		out[n++] = c;
	}
	if (n != RC_SYMBOLS)
		goto fail;
	out[n] = '\0';
	return 0;
fail:
	sodium_memzero(out, RECOVERY_CODE_LEN);
	return -1;
}
