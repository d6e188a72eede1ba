/*
 * test_json_out.c - unit tests for core/json_out.c, the serializer every
 * JSON response goes through: it must write what json_dumps(JSON_COMPACT)
 * writes for every kind of value, escape what JSON requires, keep UTF-8 and
 * key order, and fail cleanly on absurd nesting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <float.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "json_out.h"

/* json_out(v) must equal json_dumps(v, JSON_COMPACT), byte for byte. */
static void same_as_jansson(json_t *v)
{
	size_t len = 0;
	char *mine = json_out(v, &len);
	char *ref = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	assert_non_null(mine);
	assert_non_null(ref);
	assert_string_equal(mine, ref);
	assert_int_equal(len, strlen(ref));
	free(mine);
	free(ref);
	json_decref(v);
}

static void test_scalars(void **state)
{
	(void)state;
	same_as_jansson(json_true());
	same_as_jansson(json_false());
	same_as_jansson(json_null());
	same_as_jansson(json_integer(0));
	same_as_jansson(json_integer(-1));
	same_as_jansson(json_integer(LLONG_MAX));
	same_as_jansson(json_integer(LLONG_MIN));
	same_as_jansson(json_string(""));
}

static void test_reals(void **state)
{
	static const double v[] = {0.0,    1.0,     -2.5,   0.1,  1e300,
				   1e-300, 123456789.0, 3.25e21, DBL_MAX,
				   DBL_MIN, -0.0,   1.5e-7};
	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		same_as_jansson(json_real(v[i]));
}

static void test_string_escapes(void **state)
{
	static const char ctl[] = "a\"b\\c/d\b\f\n\r\t\x01\x1f\x7f end";
	(void)state;
	same_as_jansson(json_string(ctl));
	same_as_jansson(json_string("caf\xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x98\x80"));
	same_as_jansson(json_stringn("nul\0inside", 10));
	same_as_jansson(json_string("</script><!--"));
}

static void test_nested_and_key_order(void **state)
{
	json_t *o = json_pack("{s:i,s:s,s:[i,s,{s:b}],s:{},s:[],s:n}", "zeta",
			      1, "alpha", "x", "list", 2, "two", "k", 1,
			      "empty", "arr", "nil");
	json_t *k = json_object();
	(void)state;
	assert_non_null(o);
	json_object_set_new(k, "quo\"te", json_integer(1));
	json_object_set_new(k, "new\nline", json_string("v"));
	json_object_set_new(o, "odd keys", k);
	same_as_jansson(o);
}

static void test_large_array(void **state)
{
	json_t *a = json_array();
	(void)state;
	for (int i = 0; i < 5000; i++)
		json_array_append_new(
		    a, json_pack("{s:s,s:i}", "start", "2026-11-26T09:00:00Z",
				 "provider_id", i));
	same_as_jansson(a);
}

static void test_depth_limit(void **state)
{
	json_t *root = json_array(), *cur = root;
	size_t len = 123;
	(void)state;
	for (int i = 0; i < 200; i++) {
		json_t *next = json_array();
		json_array_append_new(cur, next);
		cur = next;
	}
	assert_null(json_out(root, &len));
	assert_null(json_out(NULL, &len));
	json_decref(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_scalars),
	    cmocka_unit_test(test_reals),
	    cmocka_unit_test(test_string_escapes),
	    cmocka_unit_test(test_nested_and_key_order),
	    cmocka_unit_test(test_large_array),
	    cmocka_unit_test(test_depth_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
