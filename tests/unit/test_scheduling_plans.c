/*
 * test_scheduling_plans.c - the query plans the scheduling plugin's speed
 * depends on, on a database migrated with its own migrations
 * (plugins/scheduling/migrations.c, linked in): slot search reads a
 * provider's busy intervals from the covering partial index alone (no
 * table row per visit), and freeing a visit's slot claims finds them by
 * index. A plan that regresses (a dropped index,
 * a query edited past its index) fails here instead of in bench/.
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

#include "db.h"
#include "tmpdb.h"
#include "../../plugins/scheduling/sched.h"

static struct tmpdb tmp;

static int group_setup(void **state)
{
	char err[512];
	struct db *db;
	if (tmpdb_init(&tmp, "sched-plans") || !(db = tmpdb_open(&tmp, 1000)))
		return -1;
	if (db_migrate(db, "scheduling", sched_migrations, err, sizeof(err))) {
		fprintf(stderr, "migrations: %s\n", err);
		return -1;
	}
	*state = db;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	tmpdb_remove(&tmp);
	tmpdb_fini(&tmp);
	return 0;
}

/* The plan of sql, its detail lines joined by " | ". */
static void plan_of(struct db *db, const char *sql, char *out, size_t len)
{
	char q[1024];
	sqlite3_stmt *st;
	size_t n = 0;

	snprintf(q, sizeof(q), "EXPLAIN QUERY PLAN %s", sql);
	st = db_prepare(db, q);
	assert_non_null(st);
	out[0] = '\0';
	while (sqlite3_step(st) == SQLITE_ROW && n < len)
		n += (size_t)snprintf(out + n, len - n, "%s%s", n ? " | " : "",
				      (const char *)sqlite3_column_text(st, 3));
	sqlite3_reset(st);
}

static void test_busy_intervals_covering(void **state)
{
	char plan[512];
	plan_of(*state, SCHED_BUSY_SQL, plan, sizeof(plan));
	assert_non_null(
	    strstr(plan, "COVERING INDEX scheduling_appointments_busy"));
	assert_null(strstr(plan, "SCAN"));
	assert_null(strstr(plan, "TEMP B-TREE")); /* no sort */
}

/* Cancelling or moving a visit frees its claims by appointment id. */
static void test_unclaim_by_index(void **state)
{
	char plan[512];
	plan_of(*state,
		"DELETE FROM scheduling_slot_claims WHERE appointment_id = ?",
		plan, sizeof(plan));
	assert_non_null(
	    strstr(plan, "INDEX scheduling_slot_claims_appt"));
	assert_null(strstr(plan, "SCAN"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_busy_intervals_covering),
	    cmocka_unit_test(test_unclaim_by_index),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
