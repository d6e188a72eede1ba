/*
 * test_crypto.c - unit tests for core/crypto.c and core/totp.c: password
 * hashing and policy, tokens, SHA-256, constant-time compare, recovery
 * codes, TOTP (RFC 6238 vectors), the otpauth URI and the QR SVG.
 *
 * Hashing uses small argon2id parameters except in the one test that
 * checks the defaults. The whole suite runs in well under a second.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <qrencode.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "totp.h"

#define SMALL_OPS 1ULL
#define SMALL_MEM ((size_t)16 * 1024)

static const char *const WEAK = "password is too common or easy to guess";
static const char *const SHORT = "password must be at least 12 characters";
static const char *const LONG = "password must be at most 128 characters";
static const char *const BAD_UTF8 = "password is not valid utf-8";
static const char *const CONTROL =
	"password must not contain control characters";
static const char *const USER = "password must not contain the username";

static const char *const RFC_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

static int setup(void **state)
{
	(void)state;
	if (crypto_init() != 0)
		return -1;
	crypto_set_pw_params(SMALL_OPS, SMALL_MEM);
	return 0;
}

/* CPU time of this thread: unlike wall time, not stretched when the
 * scheduler preempts us, which on a busy machine hit one side of the
 * real/dummy comparison below more than the other. */
static double cpu_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- password hashing ------------------------------------------------- */

static void test_hash_roundtrip(void **state)
{
	char h1[PW_HASH_MAX], h2[PW_HASH_MAX];
	const char *pw = "correct horse battery staple";

	(void)state;
	assert_int_equal(pw_hash(pw, strlen(pw), h1), 0);
	assert_non_null(strstr(h1, "$argon2id$v=19$"));
	assert_int_equal(pw_verify(h1, pw, strlen(pw)), 0);
	assert_int_equal(pw_verify(h1, "correct horse battery stapler", 29),
			 -1);
	assert_int_equal(pw_verify(h1, pw, strlen(pw) - 1), -1);
	/* A fresh salt each time. */
	assert_int_equal(pw_hash(pw, strlen(pw), h2), 0);
	assert_string_not_equal(h1, h2);
	assert_int_equal(pw_verify(h2, pw, strlen(pw)), 0);
}

static void test_hash_length_is_binding(void **state)
{
	char h[PW_HASH_MAX];

	(void)state;
	assert_int_equal(pw_hash("abc\0def", 7, h), 0);
	assert_int_equal(pw_verify(h, "abc\0def", 7), 0);
	assert_int_equal(pw_verify(h, "abc", 3), -1);
	assert_int_equal(pw_verify(h, "abc\0deg", 7), -1);
}

static void test_verify_bad_hash(void **state)
{
	char h[PW_HASH_MAX];
	char big[PW_HASH_MAX + 8];

	(void)state;
	assert_int_equal(pw_verify(NULL, "x", 1), -1);
	assert_int_equal(pw_verify("", "x", 1), -1);
	assert_int_equal(pw_verify("$argon2id$v=19$garbage", "x", 1), -1);
	assert_int_equal(pw_verify("plaintext", "plaintext", 9), -1);
	assert_int_equal(pw_hash(NULL, 0, h), -1);
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_int_equal(pw_verify(big, "x", 1), -1);
	/* A hash with its last character changed no longer verifies. */
	assert_int_equal(pw_hash("hunter2hunter2", 14, h), 0);
	size_t n = strlen(h);
	h[n - 1] = h[n - 1] == 'A' ? 'B' : 'A';
	assert_int_equal(pw_verify(h, "hunter2hunter2", 14), -1);
}

static void test_needs_rehash(void **state)
{
	char h[PW_HASH_MAX];
	char old[crypto_pwhash_argon2i_STRBYTES];

	(void)state;
	assert_int_equal(pw_hash("some passphrase", 15, h), 0);
	assert_int_equal(pw_needs_rehash(h), 0);

	crypto_set_pw_params(SMALL_OPS + 1, SMALL_MEM);
	assert_int_equal(pw_needs_rehash(h), 1);
	crypto_set_pw_params(SMALL_OPS, SMALL_MEM * 2);
	assert_int_equal(pw_needs_rehash(h), 1);
	crypto_set_pw_params(SMALL_OPS, SMALL_MEM);
	assert_int_equal(pw_needs_rehash(h), 0);

	assert_int_equal(pw_needs_rehash("not a hash"), 1);
	assert_int_equal(pw_needs_rehash("$argon2id$v=19$m=16,t=1,garbage"), 1);
	assert_int_equal(pw_needs_rehash(NULL), 1);
	/* argon2i strings verify but should be upgraded to argon2id. */
	assert_int_equal(crypto_pwhash_argon2i_str(old, "pw", 2, 3, SMALL_MEM),
			 0);
	assert_int_equal(pw_verify(old, "pw", 2), 0);
	assert_int_equal(pw_needs_rehash(old), 1);
}

static void test_params_clamped(void **state)
{
	char h[PW_HASH_MAX];
	unsigned long m = 0, t = 0, p = 0;

	(void)state;
	crypto_set_pw_params(0, 0);
	assert_int_equal(pw_hash("clamped", 7, h), 0);
	assert_int_equal(
		sscanf(h, "$argon2id$v=19$m=%lu,t=%lu,p=%lu$", &m, &t, &p), 3);
	assert_int_equal(t, crypto_pwhash_argon2id_OPSLIMIT_MIN);
	assert_int_equal(m, crypto_pwhash_argon2id_MEMLIMIT_MIN / 1024);
	crypto_set_pw_params(SMALL_OPS, SMALL_MEM);
}

static void test_default_params(void **state)
{
	char h[PW_HASH_MAX];
	unsigned long m = 0, t = 0, p = 0;
	const char *pw = "ünïcödé-pässwörd-123";

	(void)state;
	crypto_set_pw_params(PW_OPSLIMIT_DEFAULT, PW_MEMLIMIT_DEFAULT);
	assert_int_equal(pw_hash(pw, strlen(pw), h), 0);
	assert_int_equal(
		sscanf(h, "$argon2id$v=19$m=%lu,t=%lu,p=%lu$", &m, &t, &p), 3);
	assert_true(m >= 19456);
	assert_true(t >= 2);
	assert_int_equal(p, 1);
	assert_int_equal(pw_verify(h, pw, strlen(pw)), 0);
	assert_int_equal(pw_needs_rehash(h), 0);
	crypto_set_pw_params(SMALL_OPS, SMALL_MEM);
	assert_int_equal(pw_needs_rehash(h), 1);
}

/* Time one pw_verify() against hash (a wrong password) or, when hash is
 * NULL, one pw_dummy_verify(). */
static double time_verify(const char *hash)
{
	double t0 = cpu_seconds();

	if (hash == NULL)
		pw_dummy_verify("nobody's password", 17);
	else
		assert_int_equal(pw_verify(hash, "wrong password", 14), -1);
	return cpu_seconds() - t0;
}

static void test_dummy_verify_costs_like_real(void **state)
{
	char h[PW_HASH_MAX];
	double real = 1e9, dummy = 1e9;

	(void)state;
	/* A dummy hash at the small test cost must be replaced, not reused. */
	pw_dummy_verify("cheap", 5);
	/* Costly enough to dwarf timer noise, yet a small cache-resident block:
     * with megabytes, page faults and transparent huge pages made one of
     * two alternating allocations up to 3x cheaper than the other. */
	crypto_set_pw_params(100, (size_t)64 * 1024);
	assert_int_equal(pw_hash("a real user's passphrase", 24, h), 0);
	pw_dummy_verify("warm up", 7); /* rebuilds the dummy hash */
	/* Interleaved, best of seven each. */
	for (int i = 0; i < 7; i++) {
		double r = time_verify(h);
		double d = time_verify(NULL);
		real = r < real ? r : real;
		dummy = d < dummy ? d : dummy;
	}
	if (dummy < real * 0.5 || dummy > real * 1.6)
		fail_msg("dummy verify %.2f ms, real verify %.2f ms",
			 dummy * 1e3, real * 1e3);
	pw_dummy_verify(NULL, 0);
	crypto_set_pw_params(SMALL_OPS, SMALL_MEM);
}

/* ---- password policy -------------------------------------------------- */

static void test_policy_accepts(void **state)
{
	static const char *const good[] = {
		"correct horse battery staple",
		"ünïcödé-pässwörd-123",
		"kX9#mQ2$vL7!pz",
		"mary had a little lamb",
		"четыре слова вместе",
		"Tr0ub4dor&3xyz",
	};

	(void)state;
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		const char *why = pw_policy_check(good[i], "jdoe");
		if (why != NULL)
			fail_msg("'%s' rejected: %s", good[i], why);
	}
}

static void test_policy_rejects_weak(void **state)
{
	static const char *const weak[] = {
		"password1234",	 "qwertyuiop123",    "aaaaaaaaaaaa",
		"123456789012",	 "Summer2024!!",     "sunshine2024",
		"P@ssw0rd2024!", "passwordpassword", "dragondragon",
		"1qaz2wsx3edc",	 "abcdefghijkl",     "asdfghjkl;xyz9",
		"Welcome123456", "ABCabcABCabc",     "monkey123456",
	};

	(void)state;
	for (size_t i = 0; i < sizeof weak / sizeof weak[0]; i++) {
		const char *why = pw_policy_check(weak[i], NULL);
		if (why == NULL || strcmp(why, WEAK) != 0)
			fail_msg("'%s' gave %s", weak[i], why ? why : "NULL");
	}
	/* Four different code points, five different bytes: cracklib counts
     * bytes and lets it through, the code point count must not. */
	assert_string_equal(pw_policy_check("äöüßüäßöäüöß", NULL), WEAK);
}

/* Append code point c to s as UTF-8; returns bytes written. */
static size_t put_utf8(char *s, uint32_t c)
{
	if (c < 0x80) {
		s[0] = (char)c;
		return 1;
	}
	s[0] = (char)(0xC0 | (c >> 6));
	s[1] = (char)(0x80 | (c & 0x3F));
	return 2;
}

/* A deterministic, pattern-free string of n code points, most of them two
 * bytes long, so byte and code point counts differ. */
static void make_cp_string(char *out, size_t n, uint32_t seed)
{
	/* Latin, Greek and Cyrillic letters plus a few ASCII ones. */
	static const uint32_t alpha[] = {
	    'k', 'Q', '7', '#', 'z', 'M', 0xE9, 0xFC, 0xF1, 0xE5, 0xF8,
	    0xDF, 0xE7, 0x3B1, 0x3B2, 0x3B3, 0x3B4, 0x3BB, 0x3C0, 0x3C9,
	    0x436, 0x44F,
	};
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		o += put_utf8(
			out + o,
			alpha[(seed >> 16) % (sizeof alpha / sizeof alpha[0])]);
	}
	out[o] = '\0';
}

static void test_policy_length_counts_code_points(void **state)
{
	char buf[1024];
	const char *why;

	(void)state;
	/* 11 code points but 22 bytes: too short. */
	assert_string_equal(pw_policy_check("ééééééééééé", NULL), SHORT);
	assert_string_equal(pw_policy_check("kX9#mQ2$vL7", NULL), SHORT);
	assert_string_equal(pw_policy_check("", NULL), SHORT);

	make_cp_string(buf, 12, 1);
	assert_true(strlen(buf) > 12);
	why = pw_policy_check(buf, NULL);
	if (why != NULL)
		fail_msg("12 code points '%s' rejected: %s", buf, why);

	make_cp_string(buf, 128, 2);
	assert_true(strlen(buf) > 200);
	why = pw_policy_check(buf, NULL);
	if (why != NULL)
		fail_msg("128 code points rejected: %s", why);

	make_cp_string(buf, 129, 2);
	assert_string_equal(pw_policy_check(buf, NULL), LONG);
	memset(buf, 'x', 1000);
	buf[1000] = '\0';
	assert_string_equal(pw_policy_check(buf, NULL), LONG);
}

static void test_policy_invalid_utf8(void **state)
{
	static const char *const bad[] = {
		"correct horse \xff battery",	  /* never valid */
		"correct horse \xc0\xaf staple",  /* overlong '/' */
		"correct horse \xed\xa0\x80 ok",  /* surrogate */
		"correct horse \xf4\x90\x80\x80", /* above U+10FFFF */
		"correct horse battery \xe2\x82", /* truncated */
		"correct horse \x80 battery",	  /* stray continuation */
	};

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_string_equal(pw_policy_check(bad[i], NULL), BAD_UTF8);
}

static void test_policy_control_chars(void **state)
{
	(void)state;
	assert_string_equal(pw_policy_check("correct\thorse battery", NULL),
			    CONTROL);
	assert_string_equal(pw_policy_check("correct horse\x7f battery", NULL),
			    CONTROL);
	assert_string_equal(
		pw_policy_check("correct horse\xc2\x85 battery", NULL),
		CONTROL);
	assert_string_equal(
		pw_policy_check_n("correct\0horse battery", 21, NULL), CONTROL);
	assert_null(pw_policy_check_n("correct horse battery", 21, NULL));
}

static void test_policy_username(void **state)
{
	(void)state;
	assert_string_equal(pw_policy_check("kX9#mQ2$JDoe!pz", "jdoe"), USER);
	assert_string_equal(pw_policy_check("kX9#mQ2$jdoe!pz", "JDOE"), USER);
	/* The local part of an e-mail user name counts too. */
	assert_string_equal(
		pw_policy_check("kX9#mQ2$jdoe!pz", "jdoe@example.com"), USER);
	/* Names under three code points are not checked. */
	assert_null(pw_policy_check("kX9#mQ2$jd!pzw", "jd"));
	assert_null(pw_policy_check("kX9#mQ2$jdoe!pz", "alice"));
	assert_null(pw_policy_check("kX9#mQ2$jdoe!pz", NULL));
}

struct policy_job {
	int ok;
};

static void *policy_worker(void *arg)
{
	struct policy_job *job = arg;

	job->ok = 1;
	for (int i = 0; i < 15; i++) {
		const char *good =
			pw_policy_check("correct horse battery staple", NULL);
		const char *bad = pw_policy_check("password1234", NULL);
		if (good != NULL || bad == NULL || strcmp(bad, WEAK) != 0)
			job->ok = 0;
	}
	return NULL;
}

static void test_policy_threads(void **state)
{
	pthread_t th[4];
	struct policy_job jobs[4];

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(
			pthread_create(&th[i], NULL, policy_worker, &jobs[i]),
			0);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_true(jobs[i].ok);
	}
}

/* ---- tokens, hashing, comparison -------------------------------------- */

static int cmp_token(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static void test_tokens(void **state)
{
	enum { N = 1000 };
	static char toks[N][TOKEN_STR_LEN];
	unsigned char raw[64];
	size_t rawlen = 0;

	(void)state;
	for (int i = 0; i < N; i++) {
		token_new(toks[i]);
		assert_int_equal(strlen(toks[i]), 43);
		for (int j = 0; j < 43; j++) {
			char c = toks[i][j];
			assert_true((c >= 'A' && c <= 'Z') ||
				    (c >= 'a' && c <= 'z') ||
				    (c >= '0' && c <= '9') || c == '-' ||
				    c == '_');
		}
	}
	assert_int_equal(
		sodium_base642bin(raw, sizeof raw, toks[0], 43, NULL, &rawlen,
				  NULL,
				  sodium_base64_VARIANT_URLSAFE_NO_PADDING),
		0);
	assert_int_equal(rawlen, 32);
	qsort(toks, N, TOKEN_STR_LEN, cmp_token);
	for (int i = 1; i < N; i++)
		assert_string_not_equal(toks[i - 1], toks[i]);
}

static void test_sha256(void **state)
{
	char hex[65];

	(void)state;
	sha256_hex("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177"
				 "a9cb410ff61f20015ad");
	sha256_hex("", 0, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b9"
				 "34ca495991b7852b855");
}

static void test_ct_equal(void **state)
{
	(void)state;
	assert_int_equal(ct_equal("abcdef", "abcdef"), 1);
	assert_int_equal(ct_equal("abcdef", "abcdeg"), 0);
	assert_int_equal(ct_equal("abcdef", "abcde"), 0);
	assert_int_equal(ct_equal("", ""), 1);
	assert_int_equal(ct_equal("", "a"), 0);
	assert_int_equal(ct_equal(NULL, "a"), 0);
	assert_int_equal(ct_equal("a", NULL), 0);
}

static void test_random_bytes(void **state)
{
	unsigned char a[32], b[32], zero[32] = {0};

	(void)state;
	random_bytes(a, sizeof a);
	random_bytes(b, sizeof b);
	assert_memory_not_equal(a, b, sizeof a);
	assert_memory_not_equal(a, zero, sizeof a);
}

/* ---- recovery codes --------------------------------------------------- */

static void test_recovery_codes(void **state)
{
	char code[RECOVERY_CODE_LEN], norm[RECOVERY_CODE_LEN];
	char seen[50][RECOVERY_CODE_LEN];

	(void)state;
	for (int i = 0; i < 50; i++) {
		recovery_code_new(code);
		assert_int_equal(strlen(code), 14);
		assert_int_equal(code[4], '-');
		assert_int_equal(code[9], '-');
		for (int j = 0; j < 14; j++) {
			if (j == 4 || j == 9)
				continue;
			assert_non_null(strchr(
				"0123456789abcdefghjkmnpqrstvwxyz", code[j]));
		}
		assert_int_equal(recovery_code_normalise(code, norm), 0);
		assert_int_equal(strlen(norm), 12);
		assert_memory_equal(norm, code, 4);
		assert_memory_equal(norm + 4, code + 5, 4);
		assert_memory_equal(norm + 8, code + 10, 4);
		for (int k = 0; k < i; k++)
			assert_string_not_equal(seen[k], code);
		memcpy(seen[i], code, sizeof code);
	}
}

static void test_recovery_normalise(void **state)
{
	char out[RECOVERY_CODE_LEN];

	(void)state;
	assert_int_equal(recovery_code_normalise("ABCD-EFGH-JKMN", out), 0);
	assert_string_equal(out, "abcdefghjkmn");
	assert_int_equal(recovery_code_normalise(" abcd efgh jkmn ", out), 0);
	assert_string_equal(out, "abcdefghjkmn");
	assert_int_equal(recovery_code_normalise("abcdefghjkmn", out), 0);
	assert_string_equal(out, "abcdefghjkmn");
	/* Look-alikes read as the digits they resemble. */
	assert_int_equal(recovery_code_normalise("OoIi-Ll00-1111", out), 0);
	assert_string_equal(out, "001111001111");
	/* Malformed: 'u' is not in the alphabet, wrong counts, other chars. */
	assert_int_equal(recovery_code_normalise("abcd-efgh-jkmu", out), -1);
	assert_string_equal(out, "");
	assert_int_equal(recovery_code_normalise("abcd-efgh-jkm", out), -1);
	assert_int_equal(recovery_code_normalise("abcd-efgh-jkmnp", out), -1);
	assert_int_equal(recovery_code_normalise("abcd_efgh_jkmn", out), -1);
	assert_int_equal(recovery_code_normalise("", out), -1);
	assert_int_equal(recovery_code_normalise(NULL, out), -1);
}

/* ---- TOTP ------------------------------------------------------------- */

static void test_totp_rfc6238_vectors(void **state)
{
	static const struct {
		time_t t;
		const char *code;
	} v[] = {
		{59, "287082"},		{1111111109, "081804"},
		{1111111111, "050471"}, {1234567890, "005924"},
		{2000000000, "279037"}, {(time_t)20000000000LL, "353130"},
	};
	char out[7];

	(void)state;
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		assert_int_equal(totp_code(RFC_SECRET, v[i].t, out), 0);
		assert_string_equal(out, v[i].code);
	}
	/* Lowercase base32 is the same secret. */
	assert_int_equal(totp_code("gezdgnbvgy3tqojqgezdgnbvgy3tqojq", 59, out),
			 0);
	assert_string_equal(out, "287082");
	assert_int_equal(totp_code("not base32!", 59, out), -1);
	assert_string_equal(out, "");
	assert_int_equal(totp_code("GEZDGNBV", 59, out), -1); /* 5 bytes */
	assert_int_equal(totp_code(RFC_SECRET, -1, out), -1);
}

static void test_totp_verify_window_and_step(void **state)
{
	const time_t now = 1700000015; /* mid-step */
	const long long cur = (long long)now / 30;
	char code[7];
	long long step = -1;

	(void)state;
	assert_int_equal(totp_code(RFC_SECRET, now, code), 0);
	assert_int_equal(totp_verify(RFC_SECRET, code, now, 0, &step), 0);
	assert_int_equal(step, cur);
	assert_int_equal(totp_verify(RFC_SECRET, code, now, 1, NULL), 0);

	/* Previous step: accepted with window 1, refused with window 0. */
	assert_int_equal(totp_code(RFC_SECRET, now - 30, code), 0);
	assert_int_equal(totp_verify(RFC_SECRET, code, now, 0, &step), -1);
	assert_int_equal(totp_verify(RFC_SECRET, code, now, 1, &step), 0);
	assert_int_equal(step, cur - 1);

	/* Two steps ahead: needs window 2. */
	assert_int_equal(totp_code(RFC_SECRET, now + 60, code), 0);
	assert_int_equal(totp_verify(RFC_SECRET, code, now, 1, &step), -1);
	step = -1;
	assert_int_equal(totp_verify(RFC_SECRET, code, now, 2, &step), 0);
	assert_int_equal(step, cur + 2);

	/* The RFC vector at T=59 is step 1. */
	assert_int_equal(totp_verify(RFC_SECRET, "287082", 59, 0, &step), 0);
	assert_int_equal(step, 1);
	assert_int_equal(totp_verify(RFC_SECRET, "287082", 59 + 30, 1, &step),
			 0);
	assert_int_equal(step, 1);
	assert_int_equal(totp_verify(RFC_SECRET, "287083", 59, 1, &step), -1);
}

/* Steps 56836343 and 56836349 of the RFC secret share the code 624555
 * (found by search); the match nearest the current step must win. */
static void test_totp_verify_prefers_nearest_step(void **state)
{
	long long step = 0;

	(void)state;
	assert_int_equal(totp_verify(RFC_SECRET, "624555",
				     (time_t)(56836344LL * 30 + 5), 5, &step),
			 0);
	assert_int_equal(step, 56836343LL);
	assert_int_equal(totp_verify(RFC_SECRET, "624555",
				     (time_t)(56836348LL * 30 + 5), 5, &step),
			 0);
	assert_int_equal(step, 56836349LL);
}

static void test_totp_verify_malformed(void **state)
{
	(void)state;
	assert_int_equal(totp_verify(RFC_SECRET, "28708", 59, 1, NULL), -1);
	assert_int_equal(totp_verify(RFC_SECRET, "2870820", 59, 1, NULL), -1);
	assert_int_equal(totp_verify(RFC_SECRET, "28708a", 59, 1, NULL), -1);
	assert_int_equal(totp_verify(RFC_SECRET, " 287082", 59, 1, NULL), -1);
	assert_int_equal(totp_verify(RFC_SECRET, "", 59, 1, NULL), -1);
	assert_int_equal(totp_verify(RFC_SECRET, NULL, 59, 1, NULL), -1);
	assert_int_equal(totp_verify("###", "287082", 59, 1, NULL), -1);
	assert_int_equal(totp_verify(NULL, "287082", 59, 1, NULL), -1);
	assert_int_equal(totp_verify("GEZDGNBV", "287082", 59, 1, NULL), -1);
	assert_int_equal(totp_verify(RFC_SECRET, "287082", -1, 1, NULL), -1);
	assert_int_equal(totp_verify(RFC_SECRET, "287082", 59, -1, NULL), -1);
	assert_int_equal(totp_verify(RFC_SECRET, "287082", 59,
				     TOTP_MAX_WINDOW + 1, NULL),
			 -1);
}

static void test_totp_secret_new(void **state)
{
	char a[TOTP_SECRET_B32_LEN], b[TOTP_SECRET_B32_LEN], code[7];
	long long step;

	(void)state;
	assert_int_equal(totp_secret_new(a, sizeof a), 0);
	assert_int_equal(totp_secret_new(b, sizeof b), 0);
	assert_int_equal(strlen(a), 32);
	assert_string_not_equal(a, b);
	for (int i = 0; i < 32; i++)
		assert_true((a[i] >= 'A' && a[i] <= 'Z') ||
			    (a[i] >= '2' && a[i] <= '7'));
	assert_int_equal(totp_code(a, 1700000000, code), 0);
	assert_int_equal(totp_verify(a, code, 1700000000, 1, &step), 0);
	assert_int_equal(step, 1700000000LL / 30);
	assert_int_equal(totp_secret_new(a, 32), -1);
}

/* ---- URI and QR ------------------------------------------------------- */

static void test_totp_uri(void **state)
{
	char *uri;

	(void)state;
	uri = totp_uri("Atrium Clinic & Co", "jane.doe+1@example.com",
		       RFC_SECRET);
	assert_non_null(uri);
	assert_string_equal(uri, "otpauth://totp/Atrium%20Clinic%20%26%20Co:"
				 "jane.doe%2B1%40example.com"
				 "?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
				 "&issuer=Atrium%20Clinic%20%26%20Co"
				 "&algorithm=SHA1&digits=6&period=30");
	free(uri);

	uri = totp_uri("Praxis Müller", "a:b/c?d", RFC_SECRET);
	assert_non_null(uri);
	assert_string_equal(uri,
			    "otpauth://totp/Praxis%20M%C3%BCller:a%3Ab%2Fc%3Fd"
			    "?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
			    "&issuer=Praxis%20M%C3%BCller"
			    "&algorithm=SHA1&digits=6&period=30");
	free(uri);

	assert_null(totp_uri(NULL, "a", RFC_SECRET));
	assert_null(totp_uri("i", NULL, RFC_SECRET));
	assert_null(totp_uri("i", "a", NULL));
}

static size_t count_of(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* Paint the SVG path's runs into a grid and compare it with libqrencode's
 * own matrix for the same text. */
static void check_path_matches(const char *svg, const char *text)
{
	QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	const char *d;
	unsigned char *grid;
	int w, n, x, y, len, len2, used;

	assert_non_null(qr);
	w = qr->width;
	n = w + 8;
	grid = calloc((size_t)n * (size_t)n, 1);
	assert_non_null(grid);
	d = strstr(svg, " d=\"");
	assert_non_null(d);
	d += 4;
	while (*d == 'M') {
		assert_int_equal(sscanf(d, "M%d %dh%dv1h-%dz%n", &x, &y, &len,
					&len2, &used),
				 4);
		assert_int_equal(len, len2);
		assert_true(x >= 4 && y >= 4 && x + len <= n - 4 && y < n - 4);
		for (int i = 0; i < len; i++)
			grid[y * n + x + i] = 1;
		d += used;
	}
	assert_int_equal(*d, '"');
	for (y = 0; y < n; y++)
		for (x = 0; x < n; x++) {
			int inner = x >= 4 && y >= 4 && x < n - 4 && y < n - 4;
			int dark =
				inner && (qr->data[(y - 4) * w + (x - 4)] & 1);
			assert_int_equal(grid[y * n + x], dark);
		}
	free(grid);
	QRcode_free(qr);
}

static void test_qr_svg(void **state)
{
	char *uri = totp_uri("Atrium", "jane@example.com", RFC_SECRET);
	char *svg;
	int n1 = 0, n2 = 0;
	const char *vb;

	(void)state;
	assert_non_null(uri);
	svg = qr_svg(uri, "Scan <me> & \"go\"");
	assert_non_null(svg);
	assert_int_equal(
		strncmp(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"", 39),
		0);
	vb = strstr(svg, "viewBox=\"0 0 ");
	assert_non_null(vb);
	assert_int_equal(sscanf(vb, "viewBox=\"0 0 %d %d\"", &n1, &n2), 2);
	assert_int_equal(n1, n2);
	/* A QR symbol is 17 + 4v modules wide, plus 2 x 4 of quiet zone. */
	assert_true(n1 >= 21 + 8);
	assert_int_equal((n1 - 8 - 17) % 4, 0);
	assert_non_null(strstr(svg, " role=\"img\""));
	assert_non_null(strstr(
		svg, " aria-label=\"Scan &lt;me&gt; &amp; &quot;go&quot;\""));
	assert_int_equal(count_of(svg, "<svg"), 1);
	assert_int_equal(count_of(svg, "</svg>"), 1);
	assert_int_equal(count_of(svg, "<rect"), 1);
	assert_int_equal(count_of(svg, "<path"), 1);
	assert_non_null(strstr(svg, "fill=\"#fff\""));
	assert_int_equal(count_of(svg, "<"), count_of(svg, ">"));
	assert_string_equal(svg + strlen(svg) - 7, "</svg>\n");
	/* The finder pattern's top edge: 7 dark modules at the quiet zone. */
	assert_non_null(strstr(svg, "d=\"M4 4h7v1h-7z"));
	check_path_matches(svg, uri);
	free(svg);

	svg = qr_svg("hello", NULL);
	assert_non_null(svg);
	assert_non_null(strstr(svg, "aria-label=\"QR code\""));
	check_path_matches(svg, "hello");
	free(svg);
	free(uri);
}

static void test_qr_svg_limits(void **state)
{
	char *big = malloc(8000);

	(void)state;
	assert_non_null(big);
	memset(big, 'x', 7999);
	big[7999] = '\0';
	assert_null(qr_svg(big, "too long"));
	assert_null(qr_svg(NULL, "x"));
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_roundtrip),
		cmocka_unit_test(test_hash_length_is_binding),
		cmocka_unit_test(test_verify_bad_hash),
		cmocka_unit_test(test_needs_rehash),
		cmocka_unit_test(test_params_clamped),
		cmocka_unit_test(test_default_params),
		cmocka_unit_test(test_dummy_verify_costs_like_real),
		cmocka_unit_test(test_policy_accepts),
		cmocka_unit_test(test_policy_rejects_weak),
		cmocka_unit_test(test_policy_length_counts_code_points),
		cmocka_unit_test(test_policy_invalid_utf8),
		cmocka_unit_test(test_policy_control_chars),
		cmocka_unit_test(test_policy_username),
		cmocka_unit_test(test_policy_threads),
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_ct_equal),
		cmocka_unit_test(test_random_bytes),
		cmocka_unit_test(test_recovery_codes),
		cmocka_unit_test(test_recovery_normalise),
		cmocka_unit_test(test_totp_rfc6238_vectors),
		cmocka_unit_test(test_totp_verify_window_and_step),
		cmocka_unit_test(test_totp_verify_prefers_nearest_step),
		cmocka_unit_test(test_totp_verify_malformed),
		cmocka_unit_test(test_totp_secret_new),
		cmocka_unit_test(test_totp_uri),
		cmocka_unit_test(test_qr_svg),
		cmocka_unit_test(test_qr_svg_limits),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
