/*
 * test_config.c - unit tests for core/config.c: defaults, every refusal
 * class with its "file:line: message", values longer than inih's 200-byte
 * line buffer, booleans, integer ranges, the [plugins] and [plugin.NAME]
 * sections, comments and indentation. Each test writes a small INI file
 * to a temporary folder and loads it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char dir[] = "/tmp/atrium-test-config-XXXXXX";
static char path[256];
static char err[1024];
static struct config cfg;

static void write_file(const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Loads text; returns config_load's result. err holds the message. */
static int load(const char *text)
{
	config_free(&cfg);
	write_file(text);
	err[0] = '\0';
	return config_load(&cfg, path, err, sizeof(err));
}

/* Asserts the load fails with "<path>:<line>: " followed by text
 * containing `what`. */
static void refused(const char *text, int line, const char *what)
{
	char prefix[300];
	if (load(text) == 0)
		fail_msg("accepted: %s", text);
	snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
	if (strncmp(err, prefix, strlen(prefix)) || !strstr(err, what))
		fail_msg("for\n%s\nwanted '%s...%s', got '%s'", text, prefix,
			 what, err);
}

static int group_setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/atrium.ini", dir);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	config_free(&cfg);
	unlink(path);
	rmdir(dir);
	return 0;
}

static void test_defaults(void **state)
{
	(void)state;
	assert_int_equal(load("; nothing but a comment\n"), 0);
	assert_string_equal(cfg.address, "127.0.0.1");
	assert_int_equal(cfg.port, 8080);
	assert_int_equal(cfg.workers, 0);
	assert_int_equal(cfg.connection_timeout, 30);
	assert_int_equal(cfg.max_body, 1048576);
	assert_int_equal(cfg.access_log, 1);
	assert_string_equal(cfg.poll, "poll");
	assert_string_equal(cfg.db_path, "atrium.db");
	assert_string_equal(cfg.theme, "default");
	assert_int_equal(cfg.nplugins, 0);
	assert_string_equal(cfg.file, path);
}

static void test_values_read(void **state)
{
	(void)state;
	assert_int_equal(load("[server]\n"
			      "port = 9090\n"
			      "workers=4\n"
			      "address = 0.0.0.0 ; inline comment\n"
			      "max_body = 2048\n"
			      "poll = epoll\n"
			      "[database]\n"
			      "path = /var/lib/atrium/a.db\n"
			      "[practice]\n"
			      "color_primary = #123abc\n"
			      "name = Smith & Jones #1 clinic\n"),
			 0);
	assert_int_equal(cfg.port, 9090);
	assert_int_equal(cfg.workers, 4);
	assert_string_equal(cfg.address, "0.0.0.0");
	assert_int_equal(cfg.max_body, 2048);
	assert_string_equal(cfg.poll, "epoll");
	assert_string_equal(cfg.db_path, "/var/lib/atrium/a.db");
	/* '#' is not a comment inside a value. */
	assert_string_equal(cfg.color_primary, "#123abc");
	assert_string_equal(cfg.practice_name, "Smith & Jones #1 clinic");
}

static void test_unknown_section(void **state)
{
	(void)state;
	/* Reported at the section line, not at its first key. */
	refused("[server]\nport = 1\n\n[serverr]\nport = 2\n", 4,
		"unknown section [serverr]");
}

/* inih says nothing about a section without keys. */
static void test_unknown_empty_section(void **state)
{
	(void)state;
	refused("[server]\nport = 1\n[nope]\n", 3, "unknown section [nope]");
	refused("[server]\n[sever]\n\n; comment\n", 2,
		"unknown section [sever]");
	/* Known sections may be empty. */
	assert_int_equal(load("[server]\n[database]\n[plugins]\n"
			      "[plugin.x]\n  [auth]\n"),
			 0);
}

static void test_unknown_key(void **state)
{
	(void)state;
	refused("[server]\nport = 1\nprot = 2\n", 3,
		"unknown key 'prot' in [server]");
}

static void test_key_outside_section(void **state)
{
	(void)state;
	refused("port = 1\n", 1, "unknown section []");
}

static void test_bad_integer(void **state)
{
	(void)state;
	refused("[server]\nport = eighty\n", 2, "port: expected an integer");
	refused("[server]\nport = 80x\n", 2, "port: expected an integer");
	refused("[server]\nport =\n", 2, "port: expected an integer");
	refused("[server]\nworkers = 99999999999999999999\n", 2,
		"workers: expected an integer");
}

static void test_ranges(void **state)
{
	(void)state;
	refused("[server]\nport = 65536\n", 2, "port: value out of range");
	refused("[server]\nport = -1\n", 2, "(0..65535)");
	refused("[server]\nmax_body = 1023\n", 2,
		"max_body: value out of range");
	refused("[auth]\npassword_ops = 0\n", 2, "password_ops");
	/* The bounds themselves are accepted. */
	assert_int_equal(load("[server]\nport = 0\nmax_body = 1024\n"), 0);
	assert_int_equal(cfg.port, 0);
	assert_int_equal(load("[server]\nport = 65535\n"
			      "max_body = 1073741824\n"),
			 0);
	assert_int_equal(cfg.port, 65535);
	assert_int_equal(cfg.max_body, 1073741824LL);
}

static void test_booleans(void **state)
{
	static const char *const yes[] = {"on", "true", "yes", "1", "ON",
					  "True"};
	static const char *const no[] = {"off", "false", "no", "0", "OFF",
					 "No"};
	char text[128];
	(void)state;
	for (size_t i = 0; i < 6; i++) {
		snprintf(text, sizeof(text), "[server]\naccess_log = %s\n",
			 no[i]);
		assert_int_equal(load(text), 0);
		assert_int_equal(cfg.access_log, 0);
		snprintf(text, sizeof(text), "[server]\naccess_log = %s\n",
			 yes[i]);
		assert_int_equal(load(text), 0);
		assert_int_equal(cfg.access_log, 1);
	}
	refused("[server]\naccess_log = maybe\n", 2,
		"access_log: expected on or off");
	refused("[server]\naccess_log = 2\n", 2, "access_log");
	assert_int_equal(config_parse_bool("yes"), 1);
	assert_int_equal(config_parse_bool("Off"), 0);
	assert_int_equal(config_parse_bool(""), -1);
	assert_int_equal(config_parse_bool("enabled"), -1);
}

static void test_choice(void **state)
{
	(void)state;
	/* The line of the bad value, not the end of the file. */
	refused("[server]\npoll = select\nport = 1\n\n", 2, "poll");
}

static void test_duplicate_key(void **state)
{
	(void)state;
	refused("[server]\nport = 1\naddress = ::1\nport = 2\n", 4,
		"duplicate key 'port' in [server]");
	/* Also across two [server] sections. */
	refused("[server]\nport = 1\n[database]\npath = x\n[server]\nport = 2\n",
		6, "duplicate key 'port'");
	refused("[plugins]\nbilling = on\nbilling = off\n", 3,
		"duplicate key 'billing' in [plugins]");
	refused("[plugin.billing]\ncurrency = usd\ncurrency = eur\n", 3,
		"duplicate key 'currency' in [plugin.billing]");
}

static void test_syntax_error(void **state)
{
	(void)state;
	refused("[server]\nport = 1\nthis line has no equals sign\n", 3,
		"syntax error");
	refused("[server\nport = 1\n", 1, "syntax error");
	/* The first error wins even when a later line is refused too. */
	refused("[server]\nnonsense\nport = 99999999\n", 2, "syntax error");
}

static void test_plugins_section(void **state)
{
	(void)state;
	assert_int_equal(load("[plugins]\n"
			      "scheduling = on\n"
			      "billing = off\n"
			      "\n"
			      "[plugin.scheduling]\n"
			      "slot_minutes = 15\n"
			      "anything_goes = here\n"),
			 0);
	assert_int_equal(cfg.nplugins, 2);
	assert_int_equal(config_plugin_state(&cfg, "scheduling"), 1);
	assert_int_equal(config_plugin_state(&cfg, "billing"), 0);
	assert_int_equal(config_plugin_state(&cfg, "surveys"), -1);
	/* Plugin options are kept raw, with their lines, for the loader. */
	assert_int_equal(cfg.nplugin_opts, 2);
	assert_string_equal(cfg.plugin_opts[0].section, "plugin.scheduling");
	assert_string_equal(cfg.plugin_opts[0].key, "slot_minutes");
	assert_string_equal(cfg.plugin_opts[0].value, "15");
	assert_int_equal(cfg.plugin_opts[0].line, 6);
	assert_int_equal(cfg.plugin_opts[1].line, 7);

	refused("[plugins]\nscheduling = sometimes\n", 2,
		"plugin 'scheduling': expected on or off");
	refused("[plugins]\nBad-Name = on\n", 2, "bad plugin name");
	refused("[plugin.Bad-Name]\nx = 1\n", 1, "bad plugin section");
	refused("[plugin.]\nx = 1\n", 1, "bad plugin section");
	refused("[plugins]\n[plugin.ok]\n[plugin.No]\n", 3,
		"bad plugin section [plugin.No]");
}

static void test_long_values(void **state)
{
	size_t n = 8000, vlen = 1000;
	char *text = malloc(n), *val = malloc(vlen + 1);
	(void)state;
	assert_non_null(text);
	assert_non_null(val);
	/* 1000 characters, past inih's 200-byte line buffer. */
	for (size_t i = 0; i < vlen; i++)
		val[i] = (char)('a' + i % 26);
	val[vlen] = '\0';
	snprintf(text, n,
		 "[server]\nport = 1\n[notify]\nwebhook_secret = %s\n"
		 "smtp_from = after@example.test\n",
		 val);
	assert_int_equal(load(text), 0);
	assert_string_equal(cfg.webhook_secret, val);
	assert_string_equal(cfg.smtp_from, "after@example.test");
	/* Trailing space and an inline comment go, as on short lines. */
	snprintf(text, n, "[notify]\nwebhook_secret = %s   ; note\n", val);
	assert_int_equal(load(text), 0);
	assert_string_equal(cfg.webhook_secret, val);
	/* Long plugin option values too. */
	snprintf(text, n, "[plugin.faq]\nwelcome = %s\n", val);
	assert_int_equal(load(text), 0);
	assert_string_equal(cfg.plugin_opts[0].value, val);
	/* A long value keeps its error line. */
	snprintf(text, n, "[server]\n\nport = %s\n", val);
	refused(text, 3, "port: expected an integer");
	free(text);
	free(val);
}

static void test_line_too_long(void **state)
{
	size_t n = 10000;
	char *text = malloc(n + 64);
	(void)state;
	assert_non_null(text);
	strcpy(text, "[notify]\nwebhook_secret = ");
	memset(text + strlen(text), 'x', n - strlen(text));
	strcpy(text + n, "\nport = 1\n");
	refused(text, 2, "line longer than");
	free(text);
}

static void test_long_comment(void **state)
{
	char text[1400];
	(void)state;
	/* A comment longer than inih's buffer, with and without '='. */
	snprintf(text, sizeof(text),
		 "; %0600d\n# %0600d = x\n[server]\nport = 7\n", 0, 0);
	assert_int_equal(load(text), 0);
	assert_int_equal(cfg.port, 7);
}

static void test_indented_keys(void **state)
{
	(void)state;
	/* inih would read an indented line as a continuation of the value
	 * above; here indentation means nothing. */
	assert_int_equal(load("[server]\n"
			      "    address = 10.0.0.1\n"
			      "\tport = 8443\n"
			      "  [database]\n"
			      "  path = x.db\n"),
			 0);
	assert_string_equal(cfg.address, "10.0.0.1");
	assert_int_equal(cfg.port, 8443);
	assert_string_equal(cfg.db_path, "x.db");
}

static void test_tls_pair(void **state)
{
	(void)state;
	assert_int_equal(load("[server]\ntls_cert = /etc/c.pem\n"), -1);
	assert_non_null(strstr(err, "tls_cert and tls_key"));
	assert_int_equal(
	    load("[server]\ntls_cert = /etc/c.pem\ntls_key = /etc/k.pem\n"), 0);
}

static void test_missing_file(void **state)
{
	char missing[300];
	(void)state;
	config_free(&cfg);
	snprintf(missing, sizeof(missing), "%s/nope.ini", dir);
	assert_int_equal(config_load(&cfg, missing, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "nope.ini:0: cannot open"));
}

static void test_shipped_default_file(void **state)
{
	(void)state;
	config_free(&cfg);
	assert_int_equal(config_load(&cfg, "config/atrium.ini", err,
				     sizeof(err)),
			 0);
	assert_int_equal(cfg.port, 8080);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_values_read),
	    cmocka_unit_test(test_unknown_section),
	    cmocka_unit_test(test_unknown_empty_section),
	    cmocka_unit_test(test_unknown_key),
	    cmocka_unit_test(test_key_outside_section),
	    cmocka_unit_test(test_bad_integer),
	    cmocka_unit_test(test_ranges),
	    cmocka_unit_test(test_booleans),
	    cmocka_unit_test(test_choice),
	    cmocka_unit_test(test_duplicate_key),
	    cmocka_unit_test(test_syntax_error),
	    cmocka_unit_test(test_plugins_section),
	    cmocka_unit_test(test_long_values),
	    cmocka_unit_test(test_line_too_long),
	    cmocka_unit_test(test_long_comment),
	    cmocka_unit_test(test_indented_keys),
	    cmocka_unit_test(test_tls_pair),
	    cmocka_unit_test(test_missing_file),
	    cmocka_unit_test(test_shipped_default_file),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
