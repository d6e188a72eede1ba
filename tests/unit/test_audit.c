/*
 * test_audit.c - unit tests for core/audit.c on the real core schema: the
 * hash chain verifies when intact and names the first bad row when a row
 * is edited (any field, NULL turned into "", text moved between fields) or
 * removed; the triggers refuse UPDATE and DELETE, and their absence is
 * reported; the admin query filters by user, patient and an RFC 3339 time
 * range (offsets honoured, "to" inclusive to the second).
 * Each test gets a fresh database file in a temporary folder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "db.h"
#include "tmpdb.h"
#include "schema.h"

static struct tmpdb tmp;

static int setup(void **state)
{
	char err[512];
	struct db *db = tmpdb_open(&tmp, 1000);
	if (!db || db_migrate(db, "core", core_migrations, err, sizeof(err)))
		return -1;
	*state = db;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tmpdb_remove(&tmp);
	return 0;
}

static void exec(struct db *db, const char *sql)
{
	char err[512];
	assert_int_equal(db_script(db, sql, err, sizeof(err)), 0);
}

/* Five rows with a mix of NULL and set fields. */
static void write_five(struct db *db)
{
	const struct audit_rec recs[] = {
	    {.action = "account.create",
	     .object_type = "user",
	     .object_id = "1",
	     .client = "command line",
	     .outcome = "ok"},
	    /* A login name is whatever a stranger typed, separators too. */
	    {.user_id = 1,
	     .username = "a\037b",
	     .role = "",
	     .action = "auth.login",
	     .client = "127.0.0.1",
	     .outcome = "ok"},
	    {.user_id = 2,
	     .username = "nurse",
	     .role = "staff",
	     .action = "GET /api/patients",
	     .patient_id = 7,
	     .client = "10.0.0.1",
	     .outcome = "ok"},
	    {.username = "ghost",
	     .action = "auth.login",
	     .client = "",
	     .outcome = "bad_password"},
	    {.user_id = 2,
	     .username = "nurse",
	     .role = "staff",
	     .action = "auth.logout",
	     .client = "10.0.0.1",
	     .outcome = "ok"},
	};
	for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++)
		assert_int_equal(audit_write(db, &recs[i]), ATR_OK);
}

static long long verify(struct db *db, char *msg, size_t len)
{
	return audit_verify(db, msg, len);
}

static void tamper(struct db *db, const char *sql)
{
	char buf[512];
	snprintf(buf, sizeof(buf),
		 "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; "
		 "%s; CREATE TRIGGER audit_no_update BEFORE UPDATE ON "
		 "audit_log BEGIN SELECT RAISE(ABORT, 'x'); END; CREATE "
		 "TRIGGER audit_no_delete BEFORE DELETE ON audit_log BEGIN "
		 "SELECT RAISE(ABORT, 'x'); END;",
		 sql);
	exec(db, buf);
}

static void test_intact_chain_verifies(void **state)
{
	struct db *db = *state;
	char msg[256];
	assert_int_equal(verify(db, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "audit chain intact: 0 rows");
	write_five(db);
	assert_int_equal(verify(db, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "audit chain intact: 5 rows");
}

static void test_edit_names_the_row(void **state)
{
	struct db *db = *state;
	char msg[256];
	write_five(db);
	tamper(db, "UPDATE audit_log SET outcome = 'ok' WHERE id = 4");
	assert_int_equal(verify(db, msg, sizeof(msg)), 4);
	assert_non_null(strstr(msg, "row 4"));
}

static void test_null_to_empty_is_an_edit(void **state)
{
	struct db *db = *state;
	char msg[256];
	write_five(db);
	tamper(db, "UPDATE audit_log SET role = '' WHERE id = 1");
	assert_int_equal(verify(db, msg, sizeof(msg)), 1);
}

static void test_text_moved_between_fields_is_an_edit(void **state)
{
	struct db *db = *state;
	char msg[256];
	write_five(db);
	/* "a" 0x1f "b" | "" becomes "a" | "b" 0x1f: fields joined with 0x1f
	 * would hash both the same. */
	tamper(db, "UPDATE audit_log SET username = 'a', role = 'b' || "
		   "char(31) WHERE id = 2");
	assert_int_equal(verify(db, msg, sizeof(msg)), 2);
}

static void test_edit_of_ids_and_time_is_caught(void **state)
{
	struct db *db = *state;
	char msg[256];
	write_five(db);
	tamper(db, "UPDATE audit_log SET patient_id = 8 WHERE id = 3");
	assert_int_equal(verify(db, msg, sizeof(msg)), 3);
	tamper(db, "UPDATE audit_log SET patient_id = 7 WHERE id = 3");
	assert_int_equal(verify(db, msg, sizeof(msg)), 0);
	tamper(db, "UPDATE audit_log SET at = '2000-01-01T00:00:00.000000Z' "
		   "WHERE id = 5");
	assert_int_equal(verify(db, msg, sizeof(msg)), 5);
}

static void test_deleted_row_breaks_the_next(void **state)
{
	struct db *db = *state;
	char msg[256];
	write_five(db);
	tamper(db, "DELETE FROM audit_log WHERE id = 2");
	assert_int_equal(verify(db, msg, sizeof(msg)), 3);
	assert_non_null(strstr(msg, "row 3"));
}

static void test_triggers_refuse_changes(void **state)
{
	struct db *db = *state;
	char err[512];
	write_five(db);
	assert_int_not_equal(db_script(db, "UPDATE audit_log SET outcome = 'x'",
				       err, sizeof(err)),
			     0);
	assert_non_null(strstr(err, "append-only"));
	assert_int_not_equal(
	    db_script(db, "DELETE FROM audit_log", err, sizeof(err)), 0);
	exec(db, "DROP TRIGGER audit_no_update");
	assert_int_equal(verify(db, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "triggers"));
}

static void test_write_inside_a_transaction_rolls_back_with_it(void **state)
{
	struct db *db = *state;
	char msg[256];
	const struct audit_rec r = {.action = "x", .outcome = "ok"};
	assert_int_equal(db_begin(db), ATR_OK);
	assert_int_equal(audit_write(db, &r), ATR_OK);
	assert_int_equal(db_rollback(db), ATR_OK);
	assert_int_equal(audit_write(db, &r), ATR_OK);
	assert_int_equal(verify(db, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "audit chain intact: 1 rows");
	assert_int_equal(audit_write(db, &(struct audit_rec){.action = NULL}),
			 ATR_EINVAL);
}

static void test_query_filters(void **state)
{
	struct db *db = *state;
	char now[32], later[32], early[32];
	time_t t = time(NULL);
	struct tm tm;
	json_t *rows;

	write_five(db);
	rows = audit_query(db, 7, 0, NULL, NULL, 100);
	assert_int_equal(json_array_size(rows), 1);
	json_decref(rows);
	rows = audit_query(db, 0, 2, NULL, NULL, 100);
	assert_int_equal(json_array_size(rows), 2);
	assert_int_equal(
	    json_integer_value(json_object_get(json_array_get(rows, 0), "id")),
	    5); /* newest first */
	json_decref(rows);
	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* "to" is inclusive to the second: rows written this second count. */
	rows = audit_query(db, 0, 0, NULL, now, 100);
	assert_true(json_array_size(rows) >= 1);
	json_decref(rows);
	t += 3600;
	gmtime_r(&t, &tm);
	strftime(later, sizeof(later), "%Y-%m-%dT%H:%M:%SZ", &tm);
	rows = audit_query(db, 0, 0, later, NULL, 100);
	assert_int_equal(json_array_size(rows), 0);
	json_decref(rows);
	/* Five seconds ago written as a +01:00 local time: all five rows. */
	t = time(NULL) - 5 + 3600;
	gmtime_r(&t, &tm);
	strftime(early, sizeof(early), "%Y-%m-%dT%H:%M:%S+01:00", &tm);
	rows = audit_query(db, 0, 0, early, NULL, 100);
	assert_int_equal(json_array_size(rows), 5);
	json_decref(rows);
	assert_null(audit_query(db, 0, 0, "yesterday", NULL, 100));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	    T(test_intact_chain_verifies),
	    T(test_edit_names_the_row),
	    T(test_null_to_empty_is_an_edit),
	    T(test_text_moved_between_fields_is_an_edit),
	    T(test_edit_of_ids_and_time_is_caught),
	    T(test_deleted_row_breaks_the_next),
	    T(test_triggers_refuse_changes),
	    T(test_write_inside_a_transaction_rolls_back_with_it),
	    T(test_query_filters),
#undef T
	};
	int rc;
	if (tmpdb_init(&tmp, "audit"))
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	tmpdb_fini(&tmp);
	return rc;
}
