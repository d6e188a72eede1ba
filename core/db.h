/*
 * db.h - SQLite storage: one connection per thread, opened lazily, with WAL,
 * synchronous=FULL, foreign keys and a busy timeout; one write connection
 * that every transaction runs on, with group commit; prepared statements
 * cached per connection; parameters bound from JSON arrays; rows returned
 * as JSON objects; and the migration runner. Every SQL call here is
 * parameterised: no function takes values to splice into SQL text.
 *
 * Not a portability layer yet: the SQL dialect plugins may use is described
 * in sdk/README.md; this file is the SQLite implementation of it.
 */
#ifndef ATRIUM_DB_H
#define ATRIUM_DB_H

#include <jansson.h>
#include <sqlite3.h>

#include <atrium/plugin.h>

struct db;

/* Called before any thread opens a connection (again only once every
 * connection to the previous database is closed). */
int db_setup(const char *path, int busy_timeout_ms);
/* This thread's connection, opened on first use; NULL if it cannot open
 * (logged). Closed automatically when the thread exits. */
struct db *db_thread(void);
/* Close this thread's connection now (a thread that ends). */
void db_thread_close(void);
/* At exit, once no other thread uses the database: this thread's
 * connection and the write connection. */
void db_shutdown(void);
sqlite3 *db_handle(struct db *db);

/* A request section on this thread: from the start to the end of one
 * access-handler call. Inside one, this thread's connection may keep its
 * read transaction for the next section (see db.c); db_enter drops it if
 * anything has committed since it began. */
void db_enter(void);
void db_leave(void);
/* A commit stamp: bytes that change whenever any connection, in any
 * process, commits. With db, the stamp of the data db reads now (its kept
 * snapshot's, or the current one); with NULL, the current one. 0, or -1
 * when the database offers none (then nothing may be cached on it). */
#define DB_STAMP_LEN 48
int db_stamp(struct db *db, unsigned char out[DB_STAMP_LEN]);
/* At the end of a handler: commits a write that had to join the kept read
 * transaction. ATR_OK, or the failure (the change is rolled back). */
int db_request_done(struct db *db);

/* A cached statement, reset and unbound, ready to bind; NULL on error
 * (logged). Valid until the next db_prepare of another SQL text could evict
 * it: use it and reset it before preparing another. */
sqlite3_stmt *db_prepare(struct db *db, const char *sql);
/* Bind a JSON array of params to ?1..?n; ATR_EINVAL on count/type mismatch. */
int db_bind_json(sqlite3_stmt *st, json_t *params);
/* The current row as a new JSON object. */
json_t *db_row_json(sqlite3_stmt *st);
/* Map a SQLite result code to enum atr_status. */
int db_status(int rc);

/* The plugin-facing operations (see atr_api for contracts). */
int db_exec(struct db *db, const char *sql, json_t *params,
	    long long *changes, long long *last_id);
json_t *db_query(struct db *db, const char *sql, json_t *params);
json_t *db_one(struct db *db, const char *sql, json_t *params, int *status);
int db_each(struct db *db, const char *sql, json_t *params, atr_row_fn fn,
	    void *arg);
/* Like db_each, with the statement itself as the row (struct atr_cols is
 * a sqlite3_stmt). */
int db_each_cols(struct db *db, const char *sql, json_t *params,
		 atr_cols_fn fn, void *arg);
/* Transactions run on the process's one write connection (see db.c), held
 * from db_begin until the transaction ends; db_commit returns once the
 * commit is on disk. */
int db_begin(struct db *db); /* BEGIN IMMEDIATE */
int db_commit(struct db *db);
int db_rollback(struct db *db);
int db_in_tx(struct db *db);
/* Group commit so far: commits made on the write connection, fdatasync
 * calls that made them durable, and the last commit known durable. */
void db_sync_stats(unsigned long long *commits, unsigned long long *syncs,
		   unsigned long long *durable);
/* Run a multi-statement script without parameters (migrations only). */
int db_script(struct db *db, const char *sql, char *err, size_t errlen);

/* Convenience for core code: bind with a printf-like type string.
 * 'i' long long, 'I' int, 's' const char * (NULL -> NULL), 'n' NULL,
 * 'd' double. Returns the prepared, bound statement or NULL. */
sqlite3_stmt *db_stmt(struct db *db, const char *sql, const char *types,
		      ...);
/* Step a statement to completion: ATR_OK, ATR_ECONFLICT, ... and reset. */
int db_done(sqlite3_stmt *st);

/* Migrations of one owner ("core", or a plugin name), applied in one
 * transaction (the caller's, when one is open). Refuses when the database records a migration id this code
 * does not have (missing, or a newer version). Returns 0, or -1 with the
 * reason in err and the database unchanged. */
int db_migrate(struct db *db, const char *owner,
	       const struct atr_migration *migs, char *err, size_t errlen);
/* Ids recorded for owner, as a JSON array (tests, --list-plugins). */
json_t *db_migrations_applied(struct db *db, const char *owner);

#endif
