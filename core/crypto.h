/*
 * crypto.h - identity primitives: password hashing and policy, random
 * tokens, hashing, constant-time comparison and recovery codes.
 *
 * This is the thin, audited layer between the auth code and libsodium /
 * cracklib. It is not the account, session or CSRF logic (those live in
 * their own files and call these functions), and it stores nothing: every
 * function works on caller-owned buffers. TOTP and QR codes are in totp.h.
 *
 * Threads: after crypto_init() every function may be called from any
 * thread. crypto_set_pw_params() is meant for startup and tests.
 */
#ifndef ATRIUM_CRYPTO_H
#define ATRIUM_CRYPTO_H

#include <stddef.h>

/* Initialise libsodium and liboath and check that the cracklib dictionary
 * is readable. Call once from the main thread before any other function
 * here (calling it again is harmless). Returns 0 on success, -1 on failure
 * after printing a one-line reason to stderr. */
int crypto_init(void);

/* ---- passwords (argon2id) --------------------------------------------- */

/* Defaults: OWASP's argon2id minimum, t=2 passes over m=19 MiB, p=1. */
#define PW_OPSLIMIT_DEFAULT 2ULL
#define PW_MEMLIMIT_DEFAULT ((size_t)19 * 1024 * 1024)

/* Set the cost used by pw_hash(), pw_dummy_verify() and pw_needs_rehash().
 * memlimit is in bytes. Values are clamped to what libsodium accepts for
 * argon2id (opslimit >= 1, memlimit >= 8 KiB); anything below the defaults
 * is for tests only. Call at startup, before request threads run. */
void crypto_set_pw_params(unsigned long long opslimit, size_t memlimit);

/* Room for an encoded argon2id string with its NUL. */
#define PW_HASH_MAX 128

/* Hash the len bytes at pw into out as a NUL-terminated
 * "$argon2id$v=19$m=...,t=...,p=1$salt$hash" string with a fresh salt.
 * Slow by design (tens of ms): never call on a request worker. Returns 0,
 * or -1 when memory runs out or pw is NULL. */
int pw_hash(const char *pw, size_t len, char out[PW_HASH_MAX]);

/* Check pw against a string made by pw_hash() (or any libsodium argon2i/id
 * string). Costs what the stored parameters say. Returns 0 on match, -1 on
 * mismatch or when hash is NULL or malformed. */
int pw_verify(const char *hash, const char *pw, size_t len);

/* Returns 1 when hash was not made with the current parameters (or is not
 * an argon2id string at all) and should be replaced after the next
 * successful pw_verify(), 0 when it is current. */
int pw_needs_rehash(const char *hash);

/* Spend the same time as pw_verify() against a hash made with the current
 * parameters, then forget the result. Call it for unknown user names so a
 * login attempt takes as long whether or not the account exists. The first
 * call after a parameter change also builds the dummy hash. */
void pw_dummy_verify(const char *pw, size_t len);

/* Password policy for a new password, in this order: valid UTF-8; no
 * control characters (C0, DEL, C1); 12 to 128 code points; must not
 * contain the user name (ASCII case-insensitive, names of 3+ code points,
 * and the local part of an e-mail name); must not be a repeated unit
 * ("dragondragon"), have fewer than 5 different code points, or have fewer
 * than 6 code points outside runs of 4+ keyboard neighbours, alphabet or
 * digit steps or repeats ("qwertyuiop123", "1qaz2wsx3edc"); cracklib must
 * accept the password, and also its core without leading and trailing
 * digits, punctuation and spaces, as typed and with look-alikes undone
 * ("P@ssw0rd2024!" -> "password"), when that core is 6+ bytes and at least
 * half the password. No composition rules. username may be NULL. Takes a
 * few ms (cracklib reads its dictionary on each call, under a mutex); any
 * thread. Returns NULL when acceptable, else a static lowercase reason fit
 * to show the user ("password strength check is unavailable" when the
 * dictionary cannot be read: a server fault, not the user's). */
const char *pw_policy_check(const char *pw, const char *username);

/* The same for a password of len bytes that may hold NUL bytes (e.g. a
 * JSON string): an embedded NUL is rejected as a control character. */
const char *pw_policy_check_n(const char *pw, size_t len, const char *username);

/* ---- tokens, hashing, comparison -------------------------------------- */

/* 43 base64url characters (no padding) and a NUL. */
#define TOKEN_STR_LEN 44

/* Fill out with a new token holding 32 bytes from the system CSPRNG. */
void token_new(char out[TOKEN_STR_LEN]);

/* Lowercase hex SHA-256 of the len bytes at data: 64 characters and a NUL. */
void sha256_hex(const void *data, size_t len, char out[65]);

/* Returns 1 when the strings are equal, else 0 (also when either is NULL).
 * The comparison is constant-time when the lengths are equal; only the
 * lengths themselves may leak, so compare fixed-length values (hashes). */
int ct_equal(const char *a, const char *b);

/* Fill buf with n bytes from the system CSPRNG. */
void random_bytes(void *buf, size_t n);

/* ---- recovery codes --------------------------------------------------- */

/* Buffer size for a recovery code, formatted ("xxxx-xxxx-xxxx", 15 bytes
 * with NUL) or normalised (12 characters, 13 bytes with NUL). */
#define RECOVERY_CODE_LEN 16

/* Fill out with a new code "xxxx-xxxx-xxxx": 12 symbols from the 32-symbol
 * lowercase Crockford alphabet 0-9 a-z without i, l, o, u (60 bits). Show it
 * once; store sha256_hex() of its normalised form. */
void recovery_code_new(char out[RECOVERY_CODE_LEN]);

/* Normalise a code as typed: drop dashes and spaces, lowercase, read o as 0
 * and i or l as 1. Writes 12 characters and a NUL to out and returns 0, or
 * returns -1 (out set to "") when in is NULL, has another character or does
 * not hold exactly 12 symbols. */
int recovery_code_normalise(const char *in, char out[RECOVERY_CODE_LEN]);

#endif
