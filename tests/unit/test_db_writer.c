/*
 * test_db_writer.c - unit tests for the shared write connection and group
 * commit in core/db.c: transactions from many threads lose no update;
 * every commit the caller was told of has been synced; changes and row ids
 * inside a transaction are the write connection's; a thread's connection
 * sees a commit at once; a transaction left open by a thread that exits,
 * or ended by a ROLLBACK statement, frees the connection for the others;
 * a writer in another connection (another process) is waited for up to
 * the busy timeout; an in-memory database keeps its transactions on the
 * thread's own connection; and a failed fdatasync is reported as a failed
 * commit (linked with -Wl,--wrap=fdatasync, see the Makefile).
 * Each test gets a fresh database file in a temporary folder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "tmpdb.h"

static struct tmpdb tmp;

/* fdatasync as the database code sees it: fails while fail_syncs is set. */
int __real_fdatasync(int fd);
int __wrap_fdatasync(int fd);
static volatile int fail_syncs;

int __wrap_fdatasync(int fd)
{
	if (fail_syncs) {
		errno = EIO;
		return -1;
	}
	return __real_fdatasync(fd);
}

static long long one_int(struct db *db, const char *sql)
{
	sqlite3_stmt *st = db_prepare(db, sql);
	long long v;
	assert_non_null(st);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return v;
}

/* A statement without parameters: its status. */
static int run(struct db *db, const char *sql)
{
	return db_exec(db, sql, NULL, NULL, NULL);
}

static int setup(void **state)
{
	struct db *db = tmpdb_open(&tmp, 400);
	if (!db ||
	    run(db, "CREATE TABLE counter (id INTEGER PRIMARY KEY, "
		    "n INTEGER NOT NULL)") != ATR_OK ||
	    run(db, "INSERT INTO counter (id, n) VALUES (1, 0)") != ATR_OK)
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

static int group_setup(void **state)
{
	(void)state;
	return tmpdb_init(&tmp, "db-writer");
}

static int group_teardown(void **state)
{
	(void)state;
	tmpdb_fini(&tmp);
	return 0;
}

/* ---- many writers ------------------------------------------------------ */

#define THREADS 4
#define ROUNDS 150

/* The counter, or -1 (no cmocka asserts off the main thread). */
static long long counter(struct db *db)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT n FROM counter WHERE id = 1");
	long long n = -1;
	if (st && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	if (st)
		sqlite3_reset(st);
	return n;
}

/* Read-modify-write in a transaction: loses updates unless transactions
 * really exclude each other. Counts commits that failed. */
static void *bump(void *arg)
{
	int *failures = arg;
	struct db *db = db_thread();
	for (int i = 0; i < ROUNDS; i++) {
		long long n;
		if (!db || db_begin(db) != ATR_OK) {
			(*failures)++;
			continue;
		}
		n = counter(db);
		if (n < 0 ||
		    db_done(db_stmt(db, "UPDATE counter SET n = ? WHERE id = 1",
				    "i", n + 1)) != ATR_OK ||
		    db_commit(db) != ATR_OK) {
			db_rollback(db);
			(*failures)++;
		}
	}
	db_thread_close();
	return NULL;
}

static void test_no_lost_update(void **state)
{
	struct db *db = *state;
	pthread_t t[THREADS];
	int failures[THREADS] = {0};
	unsigned long long c0, s0, d0, c1, s1, d1;

	db_sync_stats(&c0, &s0, &d0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, bump, &failures[i]),
				 0);
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(failures[i], 0);
	}
	assert_int_equal(one_int(db, "SELECT n FROM counter WHERE id = 1"),
			 THREADS * ROUNDS);
	/* Each commit was group-committed, and every one is durable: the
	 * syncs, however they were shared, covered the last. */
	db_sync_stats(&c1, &s1, &d1);
	assert_int_equal(c1 - c0, THREADS * ROUNDS);
	assert_int_equal(d1, c1);
	assert_true(s1 > s0);
	assert_true(s1 - s0 <= c1 - c0);
}

/* ---- what a transaction sees ------------------------------------------- */

static void test_rowid_and_changes_in_tx(void **state)
{
	struct db *db = *state;
	long long id;

	assert_int_equal(db_begin(db), ATR_OK);
	assert_true(db_in_tx(db));
	assert_int_equal(run(db, "INSERT INTO counter (n) VALUES (7)"),
			 ATR_OK);
	id = sqlite3_last_insert_rowid(db_handle(db));
	assert_true(id > 1);
	assert_int_equal(
	    db_done(db_stmt(db, "UPDATE counter SET n = n + 1 WHERE n >= 0",
			    "")),
	    ATR_OK);
	assert_int_equal(sqlite3_changes(db_handle(db)), 2);
	/* Nested: refused, not a deadlock on the write connection. */
	assert_int_equal(db_begin(db), ATR_EBUSY);
	assert_int_equal(db_commit(db), ATR_OK);
	assert_false(db_in_tx(db));
	/* The thread's own connection sees it at once. */
	assert_int_equal(one_int(db, "SELECT COUNT(*) FROM counter"), 2);
	assert_int_equal(one_int(db, "SELECT SUM(n) FROM counter"), 9);
	assert_int_equal(db_commit(db), ATR_EINVAL);
}

static void test_rollback_undoes(void **state)
{
	struct db *db = *state;
	assert_int_equal(db_begin(db), ATR_OK);
	assert_int_equal(run(db, "UPDATE counter SET n = 99"),
			 ATR_OK);
	assert_int_equal(db_rollback(db), ATR_OK);
	assert_int_equal(one_int(db, "SELECT n FROM counter WHERE id = 1"), 0);
}

/* ---- the write connection is always given back ------------------------- */

static long long ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *begin_and_exit(void *arg)
{
	struct db *db = db_thread();
	int *rc = arg;
	*rc = db ? db_begin(db) : ATR_ERR;
	if (*rc == ATR_OK)
		*rc = run(db, "UPDATE counter SET n = 42");
	db_thread_close(); /* without commit or rollback */
	return NULL;
}

static void test_thread_exit_releases(void **state)
{
	struct db *db = *state;
	pthread_t t;
	int rc = -1;
	long long t0;

	assert_int_equal(pthread_create(&t, NULL, begin_and_exit, &rc), 0);
	pthread_join(t, NULL);
	assert_int_equal(rc, ATR_OK);
	t0 = ms_now();
	assert_int_equal(db_begin(db), ATR_OK);
	assert_true(ms_now() - t0 < 200); /* not after the busy timeout */
	assert_int_equal(db_rollback(db), ATR_OK);
	assert_int_equal(one_int(db, "SELECT n FROM counter WHERE id = 1"), 0);
}

static void *begin_other(void *arg)
{
	struct db *db = db_thread();
	int *rc = arg;
	*rc = db ? db_begin(db) : ATR_ERR;
	if (*rc == ATR_OK)
		*rc = db_commit(db);
	db_thread_close();
	return NULL;
}

static void test_rollback_statement_releases(void **state)
{
	struct db *db = *state;
	pthread_t t;
	int rc = -1;

	assert_int_equal(db_begin(db), ATR_OK);
	/* Ended behind db_rollback's back: the statement, as SQLite itself
	 * does after some errors. */
	assert_int_equal(run(db, "ROLLBACK"), ATR_OK);
	assert_false(db_in_tx(db));
	assert_int_equal(pthread_create(&t, NULL, begin_other, &rc), 0);
	pthread_join(t, NULL);
	assert_int_equal(rc, ATR_OK);
}

/* Another process's writer (a plain connection here) holds the write
 * lock: db_begin waits up to the busy timeout (400 ms), then ATR_EBUSY;
 * once it commits, db_begin succeeds. */
static void test_other_connection_busy(void **state)
{
	struct db *db = *state;
	sqlite3 *other;
	long long t0, waited;

	assert_int_equal(sqlite3_open(tmp.path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE; UPDATE counter "
					     "SET n = 5",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	t0 = ms_now();
	assert_int_equal(db_begin(db), ATR_EBUSY);
	waited = ms_now() - t0;
	assert_true(waited >= 350 && waited < 1500);
	assert_false(db_in_tx(db));
	assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(other);
	assert_int_equal(db_begin(db), ATR_OK);
	assert_int_equal(one_int(db, "SELECT n FROM counter WHERE id = 1"), 5);
	assert_int_equal(db_commit(db), ATR_OK);
}

/* A commit whose sync fails is reported failed (it is visible, but may
 * not survive a crash); once syncs work again, commits succeed. */
static void test_failed_sync(void **state)
{
	struct db *db = *state;
	unsigned long long c, s, d;

	assert_int_equal(db_begin(db), ATR_OK);
	assert_int_equal(run(db, "UPDATE counter SET n = 1"),
			 ATR_OK);
	fail_syncs = 1;
	assert_int_equal(db_commit(db), ATR_ERR);
	fail_syncs = 0;
	assert_false(db_in_tx(db));
	assert_int_equal(one_int(db, "SELECT n FROM counter WHERE id = 1"), 1);
	db_sync_stats(&c, &s, &d);
	assert_true(d < c);

	assert_int_equal(db_begin(db), ATR_OK);
	assert_int_equal(run(db, "UPDATE counter SET n = 2"),
			 ATR_OK);
	assert_int_equal(db_commit(db), ATR_OK);
	db_sync_stats(&c, &s, &d);
	assert_int_equal(d, c);
	assert_int_equal(one_int(db, "SELECT n FROM counter WHERE id = 1"), 2);
}

/* ---- in memory ---------------------------------------------------------- */

static void test_memory_database(void **state)
{
	struct db *db;
	(void)state;
	db_thread_close();
	assert_int_equal(db_setup(":memory:", 400), 0);
	db = db_thread();
	assert_non_null(db);
	assert_int_equal(run(db, "CREATE TABLE m (v INTEGER)"),
			 ATR_OK);
	assert_int_equal(db_begin(db), ATR_OK);
	assert_int_equal(run(db, "INSERT INTO m VALUES (3)"),
			 ATR_OK);
	assert_int_equal(db_commit(db), ATR_OK);
	assert_int_equal(one_int(db, "SELECT SUM(v) FROM m"), 3);
	db_thread_close();
	assert_int_equal(db_setup(tmp.path, 400), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_no_lost_update, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_rowid_and_changes_in_tx,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rollback_undoes, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_thread_exit_releases, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_rollback_statement_releases,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_connection_busy, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_failed_sync, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_memory_database, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
