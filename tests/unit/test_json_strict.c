/*
 * test_json_strict.c - unit tests for core/json_strict.c, the parser every
 * request body goes through: duplicate keys, invalid UTF-8, NUL bytes, a
 * non-object body, wrong types (the message and `field` name the field),
 * unknown fields, required fields, max_len, and nulls for optional fields.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "json_strict.h"

static char msg[256], field[80];

static const struct atr_field fields[] = {
    {"name", ATR_F_STRING, 1, 8},
    {"age", ATR_F_INT, 0, 0},
    {"ok", ATR_F_BOOL, 0, 0},
    {"score", ATR_F_NUMBER, 0, 0},
    {"meta", ATR_F_OBJECT, 0, 0},
    {"tags", ATR_F_ARRAY, 0, 0},
    {"note", ATR_F_STRING, 0, 0}, /* default cap: 4096 bytes */
    {"extra", ATR_F_ANY, 0, 0},
    {NULL, 0, 0, 0},
};

static json_t *parse_n(const char *buf, size_t len,
		       const struct atr_field *f)
{
	msg[0] = '\0';
	strcpy(field, "stale");
	return json_strict_parse(buf, len, f, msg, sizeof(msg), field,
				 sizeof(field));
}

static json_t *parse(const char *text, const struct atr_field *f)
{
	return parse_n(text, strlen(text), f);
}

/* Asserts text is refused with a message containing what, blaming
 * `who` ("" = no field). */
static void refused(const char *text, size_t len, const struct atr_field *f,
		    const char *what, const char *who)
{
	json_t *j = parse_n(text, len, f);
	if (j) {
		json_decref(j);
		fail_msg("accepted: %s", text);
	}
	if (!strstr(msg, what))
		fail_msg("for %s wanted '%s', got '%s'", text, what, msg);
	assert_string_equal(field, who);
}

/* For literals: the length includes embedded NULs, not the final one. */
#define REFUSED(lit, f, what, who) refused(lit, sizeof(lit) - 1, f, what, who)

static void test_valid_body(void **state)
{
	json_t *j;
	(void)state;
	j = parse("{\"name\":\"Ann\",\"age\":41,\"ok\":true,\"score\":2.5,"
		  "\"meta\":{\"a\":1},\"tags\":[1,\"x\"],\"extra\":null}",
		  fields);
	assert_non_null(j);
	assert_string_equal(field, "");
	assert_string_equal(json_string_value(json_object_get(j, "name")),
			    "Ann");
	assert_int_equal(json_integer_value(json_object_get(j, "age")), 41);
	json_decref(j);
	/* Integers are numbers too. */
	j = parse("{\"name\":\"a\",\"score\":3}", fields);
	assert_non_null(j);
	json_decref(j);
	/* Without declared fields any object goes. */
	j = parse("{\"whatever\":[1,2,{\"x\":null}]}", NULL);
	assert_non_null(j);
	json_decref(j);
}

static void test_duplicate_keys(void **state)
{
	(void)state;
	REFUSED("{\"name\":\"a\",\"name\":\"b\"}", fields, "duplicate key",
		"name");
	/* Nested objects too, and without declared fields. */
	REFUSED("{\"meta\":{\"k\":1,\"k\":2}}", NULL, "duplicate key", "k");
}

static void test_invalid_utf8(void **state)
{
	(void)state;
	REFUSED("{\"name\":\"\xff\"}", fields, "not valid UTF-8", "");
	/* A truncated two-byte sequence. */
	REFUSED("{\"name\":\"a\xc3\"}", fields, "not valid UTF-8", "");
	/* An overlong encoding of '/'. */
	REFUSED("{\"name\":\"\xc0\xaf\"}", fields, "not valid UTF-8", "");
	/* In a key. */
	REFUSED("{\"\xfe\":1}", NULL, "not valid UTF-8", "");
}

static void test_nul_bytes(void **state)
{
	static const char raw[] = "{\"name\":\"a\0b\"}";
	(void)state;
	refused(raw, sizeof(raw) - 1, fields, "NUL", "");
	REFUSED("{\"name\":\"a\\u0000b\"}", fields, "NUL", "");
	/* A NUL after the object is not ignored either. */
	REFUSED("{\"name\":\"a\"}\0", fields, "NUL", "");
}

static void test_not_an_object(void **state)
{
	(void)state;
	REFUSED("[1,2]", fields, "must be a JSON object", "");
	REFUSED("\"text\"", NULL, "must be a JSON object", "");
	REFUSED("", fields, "must be a JSON object", "");
	REFUSED("{\"name\":", fields, "not valid JSON", "");
	REFUSED("{\"name\":\"a\"} trailing", fields, "not valid JSON", "");
}

static void test_wrong_types_name_the_field(void **state)
{
	(void)state;
	REFUSED("{\"name\":5}", fields, "field 'name' must be a string",
		"name");
	REFUSED("{\"name\":\"a\",\"age\":\"41\"}", fields,
		"field 'age' must be an integer", "age");
	REFUSED("{\"name\":\"a\",\"age\":4.5}", fields,
		"field 'age' must be an integer", "age");
	REFUSED("{\"name\":\"a\",\"ok\":1}", fields,
		"field 'ok' must be true or false", "ok");
	REFUSED("{\"name\":\"a\",\"score\":\"1\"}", fields,
		"field 'score' must be a number", "score");
	REFUSED("{\"name\":\"a\",\"meta\":[]}", fields,
		"field 'meta' must be an object", "meta");
	REFUSED("{\"name\":\"a\",\"tags\":{}}", fields,
		"field 'tags' must be an array", "tags");
}

static void test_unknown_fields(void **state)
{
	(void)state;
	REFUSED("{\"name\":\"a\",\"admin\":true}", fields,
		"unknown field 'admin'", "admin");
	/* Field names compare exactly. */
	REFUSED("{\"Name\":\"a\"}", fields, "unknown field 'Name'", "Name");
}

static void test_required(void **state)
{
	(void)state;
	REFUSED("{}", fields, "field 'name' is required", "name");
	REFUSED("{\"age\":3}", fields, "field 'name' is required", "name");
	REFUSED("{\"name\":null}", fields, "field 'name' must be a string",
		"name");
}

static void test_null_optional_allowed(void **state)
{
	json_t *j;
	(void)state;
	j = parse("{\"name\":\"a\",\"age\":null,\"meta\":null}", fields);
	assert_non_null(j);
	assert_true(json_is_null(json_object_get(j, "age")));
	json_decref(j);
}

static void test_max_len(void **state)
{
	char big[4200];
	json_t *j;
	(void)state;
	/* Exactly the limit (8 bytes) is fine; one more is not. Bytes, not
	 * characters: "é" is two. */
	j = parse("{\"name\":\"12345678\"}", fields);
	assert_non_null(j);
	json_decref(j);
	REFUSED("{\"name\":\"123456789\"}", fields,
		"field 'name' is longer than 8 bytes", "name");
	REFUSED("{\"name\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9x\"}", fields,
		"longer than 8", "name");
	/* max_len 0 means 4096. */
	snprintf(big, sizeof(big), "{\"name\":\"a\",\"note\":\"%04097d\"}", 0);
	refused(big, strlen(big), fields, "field 'note' is longer than 4096",
		"note");
	snprintf(big, sizeof(big), "{\"name\":\"a\",\"note\":\"%04096d\"}", 0);
	j = parse(big, fields);
	assert_non_null(j);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_body),
	    cmocka_unit_test(test_duplicate_keys),
	    cmocka_unit_test(test_invalid_utf8),
	    cmocka_unit_test(test_nul_bytes),
	    cmocka_unit_test(test_not_an_object),
	    cmocka_unit_test(test_wrong_types_name_the_field),
	    cmocka_unit_test(test_unknown_fields),
	    cmocka_unit_test(test_required),
	    cmocka_unit_test(test_null_optional_allowed),
	    cmocka_unit_test(test_max_len),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
