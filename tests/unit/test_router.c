/*
 * test_router.c - unit tests for core/router.c: literal segments beat
 * parameters, parameters are extracted, 405 carries the Allow list, bad or
 * conflicting routes are refused, trailing slashes and over-long paths do
 * not match, HEAD falls back to GET, a disabled plugin's routes vanish, and
 * secret ("token") parameters are redacted from the logged path.
 * The router knows nothing of HTTP, so no daemon is needed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"

/* Handlers are only compared by address. */
static int h_a(struct atr_ctx *ctx)
{
	(void)ctx;
	return 0;
}
static int h_b(struct atr_ctx *ctx)
{
	(void)ctx;
	return 1;
}
static int h_c(struct atr_ctx *ctx)
{
	(void)ctx;
	return 2;
}

static int add(struct router *r, const char *method, const char *pattern,
	       atr_handler_fn h, char *err, size_t errlen)
{
	struct route rt = {
	    .method = method,
	    .pattern = (char *)(uintptr_t)pattern,
	    .handler = h,
	    .roles = ATR_ROLE_PATIENT,
	    .flags = ATR_ROUTE_PHI,
	    .summary = "test",
	};
	err[0] = '\0';
	return router_add(r, &rt, err, errlen);
}

static void must_add(struct router *r, const char *method,
		     const char *pattern, atr_handler_fn h)
{
	char err[256];
	int rc = add(r, method, pattern, h, err, sizeof(err));
	if (rc != 0)
		fail_msg("router_add %s %s: %s", method, pattern, err);
}

static int setup(void **state)
{
	*state = router_new();
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	router_free(*state);
	return 0;
}

static void test_literal_beats_param(void **state)
{
	struct router *r = *state;
	struct route_match m;

	must_add(r, "GET", "/api/users/:id", h_a);
	must_add(r, "GET", "/api/users/me", h_b);

	assert_int_equal(router_match(r, "GET", "/api/users/me", &m),
			 ROUTE_FOUND);
	assert_ptr_equal(m.route->handler, h_b);
	assert_int_equal(m.nparams, 0);

	assert_int_equal(router_match(r, "GET", "/api/users/42", &m),
			 ROUTE_FOUND);
	assert_ptr_equal(m.route->handler, h_a);
	assert_int_equal(m.nparams, 1);
	assert_string_equal(m.names[0], "id");
	assert_string_equal(m.values[0], "42");
}

/* The literal branch is tried first but a dead end there falls back to the
 * parameter branch. */
static void test_literal_dead_end_backtracks(void **state)
{
	struct router *r = *state;
	struct route_match m;

	must_add(r, "GET", "/api/a/fixed/x", h_a);
	must_add(r, "GET", "/api/a/:p/y", h_b);

	assert_int_equal(router_match(r, "GET", "/api/a/fixed/y", &m),
			 ROUTE_FOUND);
	assert_ptr_equal(m.route->handler, h_b);
	assert_int_equal(m.nparams, 1);
	assert_string_equal(m.values[0], "fixed");

	assert_int_equal(router_match(r, "GET", "/api/a/fixed/x", &m),
			 ROUTE_FOUND);
	assert_ptr_equal(m.route->handler, h_a);
	assert_int_equal(m.nparams, 0);
}

static void test_params_extracted(void **state)
{
	struct router *r = *state;
	struct route_match m;
	char path[64];

	must_add(r, "PUT", "/api/p/:patient/visits/:visit", h_a);
	snprintf(path, sizeof(path), "/api/p/17/visits/abc-9");
	assert_int_equal(router_match(r, "PUT", path, &m), ROUTE_FOUND);
	assert_int_equal(m.nparams, 2);
	assert_string_equal(m.names[0], "patient");
	assert_string_equal(m.values[0], "17");
	assert_string_equal(m.names[1], "visit");
	assert_string_equal(m.values[1], "abc-9");
	/* Values live in the match, not in the caller's path. */
	memset(path, 'x', sizeof(path) - 1);
	assert_string_equal(m.values[0], "17");
	/* The route keeps its declared role and flags. */
	assert_int_equal(m.route->roles, ATR_ROLE_PATIENT);
	assert_int_equal(m.route->flags, ATR_ROUTE_PHI);
	assert_string_equal(m.route->pattern, "/api/p/:patient/visits/:visit");
	assert_string_equal(m.route->method, "PUT");
}

static void test_empty_param_does_not_match(void **state)
{
	struct router *r = *state;
	struct route_match m;

	must_add(r, "GET", "/api/items/:id", h_a);
	assert_int_equal(router_match(r, "GET", "/api/items/", &m),
			 ROUTE_NOT_FOUND);
	assert_int_equal(router_match(r, "GET", "/api/items", &m),
			 ROUTE_NOT_FOUND);
	assert_int_equal(router_match(r, "GET", "/api/items//x", &m),
			 ROUTE_NOT_FOUND);
}

static void test_405_allow_list(void **state)
{
	struct router *r = *state;
	struct route_match m;

	must_add(r, "DELETE", "/api/things/:id", h_a);
	must_add(r, "GET", "/api/things/:id", h_b);
	must_add(r, "PATCH", "/api/things/:id", h_c);

	assert_int_equal(router_match(r, "POST", "/api/things/3", &m),
			 ROUTE_BAD_METHOD);
	assert_null(m.route);
	/* Fixed method order, whatever the registration order. */
	assert_string_equal(m.allow, "GET, PATCH, DELETE");

	assert_int_equal(router_match(r, "OPTIONS", "/api/things/3", &m),
			 ROUTE_BAD_METHOD);
	assert_string_equal(m.allow, "GET, PATCH, DELETE");

	/* The allow list is reset by the next match. */
	assert_int_equal(router_match(r, "GET", "/api/things/3", &m),
			 ROUTE_FOUND);
	assert_string_equal(m.allow, "");
}

static void test_head_falls_back_to_get(void **state)
{
	struct router *r = *state;
	struct route_match m;

	must_add(r, "GET", "/healthz", h_a);
	must_add(r, "POST", "/api/form", h_b);
	assert_int_equal(router_match(r, "HEAD", "/healthz", &m), ROUTE_FOUND);
	assert_ptr_equal(m.route->handler, h_a);
	assert_int_equal(router_match(r, "HEAD", "/api/form", &m),
			 ROUTE_BAD_METHOD);
	assert_string_equal(m.allow, "POST");
}

static void test_conflicts_refused(void **state)
{
	struct router *r = *state;
	char err[256];

	must_add(r, "GET", "/api/x/:id", h_a);
	/* Same method, same shape, other parameter name. */
	assert_int_equal(add(r, "GET", "/api/x/:other", h_b, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, ":other"));
	assert_non_null(strstr(err, ":id"));
	/* Same method and pattern. */
	assert_int_equal(add(r, "GET", "/api/x/:id", h_b, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "conflicts"));
	/* A different parameter name at the same depth, even for another
	 * method, would make request_param ambiguous. */
	assert_int_equal(
	    add(r, "POST", "/api/x/:name/sub", h_b, err, sizeof(err)), -1);
	/* Another method on the same pattern is fine. */
	assert_int_equal(add(r, "POST", "/api/x/:id", h_b, err, sizeof(err)),
			 0);
}

static void test_bad_patterns_refused(void **state)
{
	struct router *r = *state;
	char err[256];
	static const char *const bad[] = {
	    "api/no-leading-slash", "/api//double", "/api/trailing/",
	    "/api/:",              "",             NULL,
	};

	for (size_t i = 0; bad[i]; i++) {
		assert_int_equal(add(r, "GET", bad[i], h_a, err, sizeof(err)),
				 -1);
		assert_true(strlen(err) > 0);
	}
	assert_int_equal(add(r, "FETCH", "/api/ok", h_a, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown method"));
	assert_int_equal(
	    add(r, "GET", "/a/:1/:2/:3/:4/:5/:6/:7/:8/:9", h_a, err,
		sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "parameter"));
	/* Nothing was registered by the refused calls. */
	assert_null(router_first(r));
}

static void test_trailing_slash_is_another_path(void **state)
{
	struct router *r = *state;
	struct route_match m;

	must_add(r, "GET", "/api/list", h_a);
	must_add(r, "GET", "/", h_b);
	assert_int_equal(router_match(r, "GET", "/api/list", &m), ROUTE_FOUND);
	assert_int_equal(router_match(r, "GET", "/api/list/", &m),
			 ROUTE_NOT_FOUND);
	assert_int_equal(router_match(r, "GET", "/", &m), ROUTE_FOUND);
	assert_ptr_equal(m.route->handler, h_b);
}

static void test_too_many_segments(void **state)
{
	struct router *r = *state;
	struct route_match m;
	char p64[512], p65[512], path[1200];
	size_t n = 0;

	/* Routes that would match but for the 64-segment split limit. */
	for (int i = 0; i < 64; i++)
		n += (size_t)snprintf(p64 + n, sizeof(p64) - n, "/s");
	n = 0;
	for (int i = 0; i < 65; i++)
		n += (size_t)snprintf(p65 + n, sizeof(p65) - n, "/t");
	must_add(r, "GET", p64, h_a);
	must_add(r, "GET", p65, h_b);
	must_add(r, "GET", "/a/:p", h_c);
	assert_int_equal(router_match(r, "GET", p64, &m), ROUTE_FOUND);
	assert_int_equal(router_match(r, "GET", p65, &m), ROUTE_NOT_FOUND);
	/* A path longer than the match buffer, even when a param would
	 * take it. */
	memset(path, 'a', sizeof(path) - 1);
	memcpy(path, "/a/", 3);
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(router_match(r, "GET", path, &m), ROUTE_NOT_FOUND);
	path[200] = '\0';
	assert_int_equal(router_match(r, "GET", path, &m), ROUTE_FOUND);
	/* Not absolute. */
	assert_int_equal(router_match(r, "GET", "a/b", &m), ROUTE_NOT_FOUND);
}

static int plugin_on;
static int enabled(const struct plugin *p)
{
	(void)p;
	return plugin_on;
}

static void test_disabled_plugin_routes_vanish(void **state)
{
	struct router *r = *state;
	struct route_match m;
	char err[256];
	struct route rt = {
	    .method = "GET",
	    .pattern = (char *)(uintptr_t) "/api/plug/items",
	    .handler = h_a,
	    .plugin = (struct plugin *)(uintptr_t)0x1,
	};

	assert_int_equal(router_add(r, &rt, err, sizeof(err)), 0);
	must_add(r, "POST", "/api/plug/items", h_b); /* core route */
	router_set_enabled_fn(r, enabled);

	plugin_on = 1;
	assert_int_equal(router_match(r, "GET", "/api/plug/items", &m),
			 ROUTE_FOUND);
	plugin_on = 0;
	assert_int_equal(router_match(r, "GET", "/api/plug/items", &m),
			 ROUTE_BAD_METHOD);
	assert_string_equal(m.allow, "POST");
}

static void test_registration_order_kept(void **state)
{
	struct router *r = *state;
	const struct route *rt;
	static const char *const pats[] = {"/c", "/a", "/b/:x"};

	for (size_t i = 0; i < 3; i++)
		must_add(r, "GET", pats[i], h_a);
	rt = router_first(r);
	for (size_t i = 0; i < 3; i++, rt = rt->next_all) {
		assert_non_null(rt);
		assert_string_equal(rt->pattern, pats[i]);
	}
	assert_null(rt);
}

static void test_redacted_path(void **state)
{
	struct router *r = *state;
	struct route_match m;
	char buf[256];
	const char *p = "/api/s/reminders/SeCrEt123/confirm";
	const char *out;

	must_add(r, "POST", "/api/s/reminders/:token/confirm", h_a);
	must_add(r, "GET", "/api/s/items/:id", h_b);
	must_add(r, "GET", "/api/s/x/:id/:reset_token/:n", h_c);
	assert_true(router_param_secret("token"));
	assert_true(router_param_secret("reset_token"));
	assert_false(router_param_secret("id"));

	assert_int_equal(router_match(r, "POST", p, &m), ROUTE_FOUND);
	out = router_redacted_path(&m, p, buf, sizeof(buf));
	assert_string_equal(out, "/api/s/reminders/[redacted]/confirm");

	/* A 405 on the same path chooses no route but must hide it too. */
	assert_int_equal(router_match(r, "GET", p, &m), ROUTE_BAD_METHOD);
	out = router_redacted_path(&m, p, buf, sizeof(buf));
	assert_string_equal(out, "/api/s/reminders/[redacted]/confirm");

	/* Nothing secret: the path itself. */
	assert_int_equal(router_match(r, "GET", "/api/s/items/7", &m),
			 ROUTE_FOUND);
	assert_ptr_equal(router_redacted_path(&m, "/api/s/items/7", buf,
					      sizeof(buf)),
			 "/api/s/items/7");

	/* Only the secret one of several. */
	p = "/api/s/x/5/abcdef/9";
	assert_int_equal(router_match(r, "GET", p, &m), ROUTE_FOUND);
	assert_string_equal(router_redacted_path(&m, p, buf, sizeof(buf)),
			    "/api/s/x/5/[redacted]/9");

	/* A small buffer cuts the path but never shows the secret. */
	p = "/api/s/reminders/SeCrEt123/confirm";
	assert_int_equal(router_match(r, "POST", p, &m), ROUTE_FOUND);
	for (size_t len = 1; len < 40; len++) {
		out = router_redacted_path(&m, p, buf, len);
		assert_true(strlen(out) < len);
		assert_null(strstr(out, "SeCr"));
	}
	/* Unmatched paths are returned as they are. */
	assert_int_equal(router_match(r, "GET", "/nope/SeCrEt", &m),
			 ROUTE_NOT_FOUND);
	assert_string_equal(router_redacted_path(&m, "/nope/SeCrEt", buf,
						 sizeof(buf)),
			    "/nope/SeCrEt");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_literal_beats_param, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_literal_dead_end_backtracks,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_params_extracted, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_empty_param_does_not_match,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_405_allow_list, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_head_falls_back_to_get, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_conflicts_refused, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_bad_patterns_refused, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_trailing_slash_is_another_path,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_too_many_segments, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_disabled_plugin_routes_vanish,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_registration_order_kept, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_redacted_path, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
