/*
 * test_migrations.c - unit tests for the migration runner and connection
 * setup in core/db.c: migrations apply once and in ascending order, per
 * owner; a database that records a migration newer than the code, or one
 * the code no longer has, is refused; a failing migration leaves the
 * database exactly as it was (also inside a caller's transaction); and a
 * connection comes up with WAL, synchronous=FULL and foreign keys on, and
 * waits for another's write lock up to the busy timeout.
 * Each test gets a fresh database file in a temporary folder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "tmpdb.h"

static struct tmpdb tmp;
static char err[512];

static const struct atr_migration three[] = {
    {1, "CREATE TABLE a (id INTEGER PRIMARY KEY, name TEXT);"
	"INSERT INTO a (name) VALUES ('first');"},
    /* Needs migration 1 to have run first. */
    {2, "ALTER TABLE a ADD COLUMN extra TEXT;"
	"UPDATE a SET extra = 'from 2';"},
    {5, "CREATE TABLE b (id INTEGER PRIMARY KEY,"
	" a_id INTEGER REFERENCES a(id));"},
    {0, NULL},
};

static int setup(void **state)
{
	struct db *db = tmpdb_open(&tmp, 1000);
	*state = db;
	return db ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	tmpdb_remove(&tmp);
	return 0;
}

static int group_setup(void **state)
{
	(void)state;
	return tmpdb_init(&tmp, "migrations");
}

static int group_teardown(void **state)
{
	(void)state;
	tmpdb_fini(&tmp);
	return 0;
}

/* One integer from a query without parameters; -1 when no row. */
static long long one_int(struct db *db, const char *sql)
{
	sqlite3_stmt *st = db_prepare(db, sql);
	long long v = -1;
	assert_non_null(st);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return v;
}

static int table_exists(struct db *db, const char *name)
{
	sqlite3_stmt *st = db_stmt(
	    db, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND "
		"name = ?",
	    "s", name);
	int n;
	assert_non_null(st);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	return n;
}

/* The applied ids of owner as "1,2,5". */
static void applied(struct db *db, const char *owner, char *out, size_t len)
{
	json_t *ids = db_migrations_applied(db, owner), *v;
	size_t i, n = 0;
	out[0] = '\0';
	json_array_foreach(ids, i, v) n += (size_t)snprintf(
	    out + n, len - n, "%s%lld", n ? "," : "", json_integer_value(v));
	json_decref(ids);
}

/* A digest of everything in the database, to prove "unchanged". */
static void fingerprint(struct db *db, char *out, size_t len)
{
	sqlite3_stmt *st = db_prepare(
	    db, "SELECT group_concat(name || ':' || sql, '|') FROM "
		"(SELECT name, sql FROM sqlite_master ORDER BY name)");
	const char *t;
	assert_non_null(st);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	t = (const char *)sqlite3_column_text(st, 0);
	snprintf(out, len, "%s", t ? t : "");
	sqlite3_reset(st);
}

static void test_connection_pragmas(void **state)
{
	struct db *db = *state;
	sqlite3_stmt *st = db_prepare(db, "PRAGMA journal_mode");
	assert_non_null(st);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_reset(st);
	assert_int_equal(one_int(db, "PRAGMA synchronous"), 2); /* FULL */
	assert_int_equal(one_int(db, "PRAGMA foreign_keys"), 1);
}

/* Another connection holds the write lock for hold_ms, then commits. */
struct holder {
	int hold_ms;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int holding;
};

static void *hold_lock(void *arg)
{
	struct holder *h = arg;
	struct db *db = db_thread();
	int ok = db && db_begin(db) == ATR_OK;
	pthread_mutex_lock(&h->mu);
	h->holding = ok ? 1 : -1;
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
	if (ok) {
		usleep((useconds_t)h->hold_ms * 1000);
		db_commit(db);
	}
	db_thread_close();
	return NULL;
}

static long long ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A writer waits for another connection's write lock up to the busy
 * timeout (1000 ms here): it gets the lock as soon as the holder commits,
 * and gives up with ATR_EBUSY once the timeout has passed. */
static int begin_while_held(struct db *db, int hold_ms, long long *waited)
{
	struct holder h = {hold_ms, PTHREAD_MUTEX_INITIALIZER,
			   PTHREAD_COND_INITIALIZER, 0};
	pthread_t t;
	long long t0;
	int rc;
	assert_int_equal(pthread_create(&t, NULL, hold_lock, &h), 0);
	pthread_mutex_lock(&h.mu);
	while (!h.holding)
		pthread_cond_wait(&h.cv, &h.mu);
	pthread_mutex_unlock(&h.mu);
	assert_int_equal(h.holding, 1);
	t0 = ms_now();
	rc = db_begin(db);
	*waited = ms_now() - t0;
	if (rc == ATR_OK)
		db_rollback(db);
	pthread_join(t, NULL);
	return rc;
}

static void test_busy_timeout(void **state)
{
	struct db *db = *state;
	long long waited;
	assert_int_equal(begin_while_held(db, 150, &waited), ATR_OK);
	assert_true(waited >= 100 && waited < 900);
	assert_int_equal(begin_while_held(db, 1500, &waited), ATR_EBUSY);
	assert_true(waited >= 900 && waited < 1450);
}

static void test_applied_once_in_order(void **state)
{
	struct db *db = *state;
	char ids[64];

	assert_int_equal(db_migrate(db, "core", three, err, sizeof(err)), 0);
	applied(db, "core", ids, sizeof(ids));
	assert_string_equal(ids, "1,2,5");
	assert_int_equal(one_int(db, "SELECT COUNT(*) FROM a"), 1);
	assert_int_equal(
	    one_int(db, "SELECT COUNT(*) FROM a WHERE extra = 'from 2'"), 1);
	assert_true(table_exists(db, "b"));
	assert_false(db_in_tx(db));

	/* Again: nothing runs twice (migration 1 would insert a 2nd row). */
	assert_int_equal(db_migrate(db, "core", three, err, sizeof(err)), 0);
	assert_int_equal(one_int(db, "SELECT COUNT(*) FROM a"), 1);
	applied(db, "core", ids, sizeof(ids));
	assert_string_equal(ids, "1,2,5");
}

static void test_only_pending_run(void **state)
{
	struct db *db = *state;
	static const struct atr_migration first[] = {
	    {1, "CREATE TABLE a (id INTEGER PRIMARY KEY, name TEXT);"
		"INSERT INTO a (name) VALUES ('first');"},
	    {0, NULL},
	};
	char ids[64];

	assert_int_equal(db_migrate(db, "core", first, err, sizeof(err)), 0);
	/* A newer build brings 2 and 5. */
	assert_int_equal(db_migrate(db, "core", three, err, sizeof(err)), 0);
	applied(db, "core", ids, sizeof(ids));
	assert_string_equal(ids, "1,2,5");
	assert_int_equal(one_int(db, "SELECT COUNT(*) FROM a"), 1);
}

static void test_owners_are_separate(void **state)
{
	struct db *db = *state;
	static const struct atr_migration plug[] = {
	    {1, "CREATE TABLE plug_items (id INTEGER PRIMARY KEY);"},
	    {0, NULL},
	};
	char ids[64];

	assert_int_equal(db_migrate(db, "core", three, err, sizeof(err)), 0);
	assert_int_equal(db_migrate(db, "billing", plug, err, sizeof(err)), 0);
	applied(db, "billing", ids, sizeof(ids));
	assert_string_equal(ids, "1");
	applied(db, "core", ids, sizeof(ids));
	assert_string_equal(ids, "1,2,5");
	assert_true(table_exists(db, "plug_items"));
	applied(db, "surveys", ids, sizeof(ids));
	assert_string_equal(ids, "");
}

static void test_out_of_order_code_refused(void **state)
{
	struct db *db = *state;
	static const struct atr_migration bad[] = {
	    {2, "CREATE TABLE two (x);"},
	    {1, "CREATE TABLE one (x);"},
	    {0, NULL},
	};
	static const struct atr_migration dup[] = {
	    {1, "CREATE TABLE one (x);"},
	    {1, "CREATE TABLE again (x);"},
	    {0, NULL},
	};
	assert_int_equal(db_migrate(db, "core", bad, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "out of order"));
	assert_false(table_exists(db, "two"));
	assert_int_equal(db_migrate(db, "core", dup, err, sizeof(err)), -1);
	assert_false(table_exists(db, "one"));
}

static void test_newer_in_db_refused(void **state)
{
	struct db *db = *state;
	char before[4096], after[4096], ids[64];

	assert_int_equal(db_migrate(db, "core", three, err, sizeof(err)), 0);
	assert_int_equal(db_done(db_stmt(db,
					 "INSERT INTO schema_migrations (owner,"
					 " id) VALUES ('core', 999)",
					 "")),
			 ATR_OK);
	fingerprint(db, before, sizeof(before));
	assert_int_equal(db_migrate(db, "core", three, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "999"));
	assert_non_null(strstr(err, "newer"));
	fingerprint(db, after, sizeof(after));
	assert_string_equal(before, after);
	applied(db, "core", ids, sizeof(ids));
	assert_string_equal(ids, "1,2,5,999");
	assert_false(db_in_tx(db));
}

static void test_missing_from_code_refused(void **state)
{
	struct db *db = *state;
	static const struct atr_migration without2[] = {
	    {1, "CREATE TABLE a (id INTEGER PRIMARY KEY, name TEXT);"
		"INSERT INTO a (name) VALUES ('first');"},
	    {5, "CREATE TABLE b (id INTEGER PRIMARY KEY);"},
	    {6, "CREATE TABLE c (id INTEGER PRIMARY KEY);"},
	    {0, NULL},
	};

	assert_int_equal(db_migrate(db, "core", three, err, sizeof(err)), 0);
	assert_int_equal(db_migrate(db, "core", without2, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "migration 2"));
	assert_non_null(strstr(err, "missing"));
	/* Migration 6 did not run. */
	assert_false(table_exists(db, "c"));
}

static void test_failure_rolls_back(void **state)
{
	struct db *db = *state;
	static const struct atr_migration first[] = {
	    {1, "CREATE TABLE a (id INTEGER PRIMARY KEY, name TEXT);"},
	    {0, NULL},
	};
	static const struct atr_migration failing[] = {
	    {1, "CREATE TABLE a (id INTEGER PRIMARY KEY, name TEXT);"},
	    {2, "CREATE TABLE ok2 (x); INSERT INTO a (name) VALUES ('2');"},
	    /* The first statements run before the bad one fails. */
	    {3, "CREATE TABLE ok3 (x); INSERT INTO a (name) VALUES ('3');"
		"THIS IS NOT SQL;"},
	    {0, NULL},
	};
	char before[4096], after[4096], ids[64];

	assert_int_equal(db_migrate(db, "core", first, err, sizeof(err)), 0);
	fingerprint(db, before, sizeof(before));
	assert_int_equal(db_migrate(db, "core", failing, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "migration 3 failed"));
	fingerprint(db, after, sizeof(after));
	assert_string_equal(before, after);
	assert_false(table_exists(db, "ok2"));
	assert_false(table_exists(db, "ok3"));
	assert_int_equal(one_int(db, "SELECT COUNT(*) FROM a"), 0);
	applied(db, "core", ids, sizeof(ids));
	assert_string_equal(ids, "1");
	assert_false(db_in_tx(db));
}

/* The plugin loader migrates inside its own transaction: a failure must
 * undo the migration's part and leave the caller's work and transaction. */
static void test_failure_inside_caller_tx(void **state)
{
	struct db *db = *state;
	static const struct atr_migration failing[] = {
	    {1, "CREATE TABLE half (x); INSERT INTO half VALUES (1);"
		"INSERT INTO no_such_table VALUES (1);"},
	    {0, NULL},
	};

	assert_int_equal(db_exec(db, "CREATE TABLE mine (x)", NULL, NULL, NULL),
			 ATR_OK);
	assert_int_equal(db_begin(db), ATR_OK);
	assert_int_equal(
	    db_exec(db, "INSERT INTO mine VALUES (42)", NULL, NULL, NULL),
	    ATR_OK);
	assert_int_equal(db_migrate(db, "plug", failing, err, sizeof(err)), -1);
	assert_true(db_in_tx(db));
	assert_false(table_exists(db, "half"));
	/* Even the bookkeeping table it created is gone again. */
	assert_false(table_exists(db, "schema_migrations"));
	assert_int_equal(one_int(db, "SELECT x FROM mine"), 42);
	assert_int_equal(db_commit(db), ATR_OK);
	assert_int_equal(one_int(db, "SELECT x FROM mine"), 42);
}

static void test_empty_list(void **state)
{
	struct db *db = *state;
	static const struct atr_migration none[] = {{0, NULL}};
	char ids[64];
	assert_int_equal(db_migrate(db, "empty", none, err, sizeof(err)), 0);
	assert_int_equal(db_migrate(db, "null", NULL, err, sizeof(err)), 0);
	applied(db, "empty", ids, sizeof(ids));
	assert_string_equal(ids, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_busy_timeout, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_connection_pragmas, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_applied_once_in_order, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_only_pending_run, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_owners_are_separate, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_out_of_order_code_refused,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_newer_in_db_refused, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_missing_from_code_refused,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failure_rolls_back, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_failure_inside_caller_tx,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_empty_list, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
