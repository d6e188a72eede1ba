/*
 * test_static_path.c - unit tests for static_path_safe (core/static.c), the
 * check every static file path passes after percent-decoding: no "..", no
 * "." segments, no dotfiles, no empty segments (so no absolute path), no
 * trailing slash (no directory listing), no backslash, colon or control
 * byte. Serving itself (realpath containment, symlinks) is covered by the
 * integration tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "static.h"

static void test_plain_paths_are_safe(void **state)
{
	static const char *const ok[] = {
	    "index.html",
	    "pages/home.js",
	    "a/b/c/d.css",
	    "logo.min.svg",
	    "a..b",       /* dots inside a name are not traversal */
	    "dir.d/file", /* nor in a folder name */
	    "x",
	    "caf\xc3\xa9.txt", /* UTF-8 names */
	    "with space.txt",
	    NULL,
	};
	(void)state;
	for (size_t i = 0; ok[i]; i++)
		if (!static_path_safe(ok[i]))
			fail_msg("refused '%s'", ok[i]);
}

static void test_traversal_refused(void **state)
{
	static const char *const bad[] = {
	    "..",        "../etc/passwd", "a/../b", "a/..", "a/b/../../..",
	    ".",         "./index.html",  "a/./b",  "a/.", NULL,
	};
	(void)state;
	for (size_t i = 0; bad[i]; i++)
		if (static_path_safe(bad[i]))
			fail_msg("accepted '%s'", bad[i]);
}

static void test_dotfiles_refused(void **state)
{
	static const char *const bad[] = {
	    ".htaccess", ".git/config", "a/.env", "pages/.hidden.js",
	    "a/.b/c",    NULL,
	};
	(void)state;
	for (size_t i = 0; bad[i]; i++)
		if (static_path_safe(bad[i]))
			fail_msg("accepted '%s'", bad[i]);
}

static void test_shapes_refused(void **state)
{
	static const char *const bad[] = {
	    "",           /* nothing */
	    "/etc/passwd", /* absolute: empty first segment */
	    "a//b",       /* empty segment */
	    "pages/",     /* a folder: no listings */
	    "a/b/",
	    "/",
	    NULL,
	};
	(void)state;
	for (size_t i = 0; bad[i]; i++)
		if (static_path_safe(bad[i]))
			fail_msg("accepted '%s'", bad[i]);
}

static void test_bad_bytes_refused(void **state)
{
	static const char *const bad[] = {
	    "a\\b",         "..\\..\\windows", "index.html\\",
	    "C:/x",         "a:b",             "a\x01.txt",
	    "a\nb",         "a\tb",            "a\x7f",
	    "index.html\x1f", NULL,
	};
	(void)state;
	for (size_t i = 0; bad[i]; i++)
		if (static_path_safe(bad[i]))
			fail_msg("accepted '%s'", bad[i]);
}

static void test_long_path(void **state)
{
	char p[4096];
	(void)state;
	memset(p, 'a', sizeof(p) - 1);
	p[sizeof(p) - 1] = '\0';
	for (size_t i = 100; i < sizeof(p) - 1; i += 100)
		p[i] = '/';
	assert_true(static_path_safe(p));
	memcpy(p + 1000, "/../", 4);
	assert_false(static_path_safe(p));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_paths_are_safe),
	    cmocka_unit_test(test_traversal_refused),
	    cmocka_unit_test(test_dotfiles_refused),
	    cmocka_unit_test(test_shapes_refused),
	    cmocka_unit_test(test_bad_bytes_refused),
	    cmocka_unit_test(test_long_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
