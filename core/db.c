/*
 * db.c - see db.h. Thread-local connections are found through a pthread key
 * whose destructor closes them, so MHD's pool threads clean up on exit.
 *
 * Kept snapshots. In WAL mode every read transaction takes and drops a
 * read-mark lock in the -shm file: a fcntl(2) each way, under a mutex the
 * worker threads share. That was most of the cost of a small signed-in
 * read. So a request worker's connection keeps its read transaction open
 * from one statement to the next and from one request to the next, and
 * drops it:
 *  - when any connection, in this process or another, has committed since
 *    it began: the wal-index header (the first 48 bytes of the -shm file,
 *    mapped read-only here) changes with every commit, and is compared at
 *    the start of each request (db_enter);
 *  - before anything that writes or controls a transaction (db_prepare of
 *    such a statement, db_begin, db_script), so writes never join it;
 *  - at the end of a request, if anything has committed since it began;
 *  - when it is older than KEEP_MAX_US (a bound on how long a checkpoint
 *    may wait for it), and when its thread has been idle for KEEP_IDLE_US,
 *    by a closer thread, so an idle worker never pins the WAL.
 * And it is only kept while commits are rare (none in KEEP_QUIET_US, as this
 * thread sees them): under a stream of writes, readers holding the WAL
 * would keep writers from starting it over.
 * A request therefore reads data at least as new as the last commit that
 * finished before it started, as without the kept transaction.
 *
 * One write connection. Every commit by another connection empties a
 * connection's page cache, so when each thread wrote on its own connection
 * every transaction began by reading its B-tree pages again (about a
 * hundred pread(2)s for a booking on a large practice). Transactions
 * (db_begin to db_commit or db_rollback) therefore run on one connection
 * the process shares, taken under a mutex for the whole transaction: its
 * cache survives the process's own commits, and in-process writers queue
 * on the mutex instead of on SQLite's lock. Statements outside a
 * transaction, reads and single writes, stay on the thread's connection.
 * Used once the database is in WAL mode on a file (an in-memory database
 * is private to its connection).
 *
 * Group commit. The write connection commits with synchronous=NORMAL (the
 * WAL is not synced inside COMMIT) and gives the connection up at once; the
 * committing thread then waits until the -wal file has been fdatasync'd
 * past its commit before db_commit returns. One sync covers every commit
 * made before it started, so while one thread syncs, the next writers run
 * their transactions, and one sync serves them all. What a caller is told
 * is committed is on disk, as with synchronous=FULL; the difference is
 * that another request may read a change a moment before it is durable.
 */
#include "db.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

#define STMT_CACHE 128 /* power of two */
#define WAL_HDR DB_STAMP_LEN /* the first copy of the wal-index header */
#define KEEP_MAX_US 500000ull
#define KEEP_IDLE_US 20000ull
#define KEEP_QUIET_US 100000ull
#define CKPT_WAIT_US 200000ull /* see wal_hook */
#define CKPT_FRAMES 8000         /* see wal_hook */

struct cached {
	char *sql;
	sqlite3_stmt *st;
};

struct db {
	sqlite3 *h;
	/* Kept snapshots (see above); only for connections used inside
	 * db_enter/db_leave. `mu` is held by the owner thread inside a
	 * section and by the closer while it looks at the connection. */
	pthread_mutex_t mu;
	int locked;   /* the owner holds mu (inside a section) */
	int keepable; /* registered with the closer */
	int kept;     /* our own BEGIN is open, reading only */
	unsigned char snap[WAL_HDR];
	unsigned char seen[WAL_HDR]; /* header at the last look */
	unsigned long long changed_at; /* when it last differed */
	unsigned long long kept_at, last_use;
	unsigned long long busy_since; /* first busy retry, monotonic us */
	int in_ckpt;                   /* checkpointing from wal_hook */
	struct db *tx;   /* the write connection, held by this thread */
	struct db *next; /* closer's list */
	struct cached cache[STMT_CACHE];
};

static char *db_path;
static int db_busy_ms;
static pthread_key_t db_key;
static pthread_once_t db_once = PTHREAD_ONCE_INIT;
static _Thread_local struct db *tls_db;
static _Thread_local int tls_section;

/* The -shm mapping; NULL when kept snapshots are off. */
static const unsigned char *_Atomic wal_hdr;
static int shm_fd = -1;
static pthread_mutex_t shm_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t keep_mu = PTHREAD_MUTEX_INITIALIZER;
static struct db *keep_list;
static int closer_started;

/* The write connection (see above): opened on first use, held under
 * wconn_mu from BEGIN to the end of the transaction. */
static struct db *wconn;
static pthread_mutex_t wconn_mu = PTHREAD_MUTEX_INITIALIZER;

/* Group commit (see above): commits are numbered; `synced` is the last one
 * known to be on disk; one thread at a time syncs (`syncing`). All under
 * sync_mu. wal_fd is the -wal file, opened with the write connection; -1
 * when that failed (the connection then commits with synchronous=FULL). */
static int wal_fd = -1;
static pthread_mutex_t sync_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sync_cv = PTHREAD_COND_INITIALIZER;
static unsigned long long committed, synced, failed, sync_calls;
static int syncing;

static void writer_close(void);

/* The connection statements on db run on now. */
static inline struct db *cur(struct db *db)
{
	return db->tx ? db->tx : db;
}

static void keep_unregister(struct db *db)
{
	pthread_mutex_lock(&keep_mu);
	for (struct db **p = &keep_list; *p; p = &(*p)->next)
		if (*p == db) {
			*p = db->next;
			break;
		}
	pthread_mutex_unlock(&keep_mu);
}

static void db_free(void *p)
{
	struct db *db = p;
	if (!db)
		return;
	if (db->tx) { /* a thread that ended inside a transaction */
		sqlite3_exec(db->tx->h, "ROLLBACK", NULL, NULL, NULL);
		db->tx = NULL;
		pthread_mutex_unlock(&wconn_mu);
	}
	if (db->keepable)
		keep_unregister(db);
	if (db->locked)
		pthread_mutex_unlock(&db->mu);
	pthread_mutex_destroy(&db->mu);
	for (size_t i = 0; i < STMT_CACHE; i++) {
		if (db->cache[i].st)
			sqlite3_finalize(db->cache[i].st);
		free(db->cache[i].sql);
	}
	if (sqlite3_close(db->h) != SQLITE_OK)
		log_msg(LOG_WARN, "database close: statements still open");
	free(db);
}

/* ---- waiting for the write lock ----------------------------------------
 *
 * SQLite's own busy handler sleeps 1, 2, 5 ... up to 100 ms between tries,
 * so a worker that found the write lock taken (by another worker, for the
 * one fsync a commit costs) often slept far longer than the holder needed
 * it, and every connection on that worker waited too. Here a waiter sleeps
 * on a condition variable that every in-process commit or rollback
 * signals, and retries at least every millisecond (for writers in other
 * processes), up to the configured busy timeout. */
static pthread_mutex_t writer_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t writer_cv;

static void writer_done(void)
{
	pthread_mutex_lock(&writer_mu);
	pthread_cond_broadcast(&writer_cv);
	pthread_mutex_unlock(&writer_mu);
}

static int busy_wait(void *arg, int count)
{
	struct db *db = arg;
	unsigned long long now = mono_us(),
			   limit = db->in_ckpt ? CKPT_WAIT_US
					       : (unsigned long long)db_busy_ms *
						     1000ull;
	struct timespec ts;

	if (count == 0)
		db->busy_since = now;
	if (now - db->busy_since >= limit)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&writer_mu);
	pthread_cond_timedwait(&writer_cv, &writer_mu, &ts);
	pthread_mutex_unlock(&writer_mu);
	return 1;
}

/* After each commit, write lock released: wake the waiters, and
 * checkpoint once the WAL holds CKPT_FRAMES frames. SQLite's default hook
 * (which this one replaces) runs a passive checkpoint at 1000 frames, then
 * after every commit until a writer happens to start the WAL over, which
 * under a stream of writes it rarely does: the WAL grew to hundreds of
 * megabytes, each commit synced the database file again, and every page
 * lookup in the WAL got slower. A RESTART checkpoint waits (up to
 * CKPT_WAIT_US) for the readers still in the WAL, so the next writer
 * starts it over.
 * Why 8000 frames (a WAL of up to ~32 MiB): a checkpoint copies each page
 * once however often it was rewritten, and a booking rewrites the same
 * last leaves of its tables and indexes; writers wait while it runs. On a
 * booking load a 1000-frame checkpoint took ~7 ms, a 10000-frame one
 * ~18 ms: 4x cheaper per frame, and bookings/s went from ~530 to ~800. */
static int wal_hook(void *arg, sqlite3 *h, const char *name, int frames)
{
	struct db *db = arg;
	if (frames >= CKPT_FRAMES) {
		db->in_ckpt = 1;
		sqlite3_wal_checkpoint_v2(h, name, SQLITE_CHECKPOINT_RESTART,
					  NULL, NULL);
		db->in_ckpt = 0;
	}
	writer_done();
	return SQLITE_OK;
}

static void make_key(void)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&writer_cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_key_create(&db_key, db_free);
	/* Memory statistics take a process-wide mutex on every allocation,
	 * which the worker threads would fight over; nothing reads them.
	 * Must precede the first open (sqlite3_initialize). */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int db_setup(const char *path, int busy_timeout_ms)
{
	const unsigned char *m;
	pthread_once(&db_once, make_key);
	/* Another database (tests): no connection to the old one is in use. */
	writer_close();
	pthread_mutex_lock(&shm_mu);
	if ((m = atomic_load(&wal_hdr))) {
		atomic_store(&wal_hdr, NULL);
		munmap((void *)(uintptr_t)m, WAL_HDR);
		close(shm_fd);
		shm_fd = -1;
	}
	pthread_mutex_unlock(&shm_mu);
	free(db_path);
	db_path = strdup(path);
	db_busy_ms = busy_timeout_ms;
	return db_path ? 0 : -1;
}

static int exec_simple(sqlite3 *h, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(h, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		log_msg(LOG_ERROR, "database: %s", msg ? msg : "error");
		sqlite3_free(msg);
	}
	return rc;
}

/* Maps the wal-index header once, after the first connection made the
 * database WAL. The main thread's connection stays open for the daemon's
 * life, so the -shm file it maps is never replaced under it. */
static void map_wal_header(void)
{
	static int logged;
	char *shm;
	int fd;
	void *m;

	/* An in-memory database has no wal-index. */
	if (atomic_load(&wal_hdr) || !strcmp(db_path, ":memory:") ||
	    !*db_path)
		return;
	pthread_mutex_lock(&shm_mu);
	shm = atomic_load(&wal_hdr) ? NULL : malloc(strlen(db_path) + 5);
	if (shm) {
		sprintf(shm, "%s-shm", db_path);
		fd = open(shm, O_RDONLY | O_CLOEXEC);
		free(shm);
		/* The descriptor stays open while the database is in use:
		 * closing any descriptor of a file drops every POSIX lock
		 * the process holds on it, SQLite's included, and another
		 * process would then think it alone and reset the -shm. */
		if (fd >= 0) {
			m = mmap(NULL, WAL_HDR, PROT_READ, MAP_SHARED, fd, 0);
			if (m != MAP_FAILED) {
				shm_fd = fd;
				atomic_store(&wal_hdr, m);
			} else {
				close(fd);
			}
		}
		/* Tried again with the next connection (a new database has
		 * no -shm until its WAL is first used). */
		if (!atomic_load(&wal_hdr) && !logged++)
			log_msg(LOG_DEBUG, "database: no wal-index to watch yet; "
					   "read transactions end with each "
					   "statement");
	}
	pthread_mutex_unlock(&shm_mu);
}

static void wal_header(unsigned char out[WAL_HDR])
{
	const unsigned char *h = atomic_load(&wal_hdr);
	atomic_thread_fence(memory_order_acquire);
	memcpy(out, h, WAL_HDR);
}

int db_stamp(struct db *db, unsigned char out[DB_STAMP_LEN])
{
	if (!atomic_load(&wal_hdr))
		return -1;
	if (db && db->kept)
		memcpy(out, db->snap, WAL_HDR);
	else
		wal_header(out);
	return 0;
}

/* Ends the kept transaction: a read, or a write that had to join it (see
 * keep_for). A failed commit is rolled back and logged. SQLite's code. */
static int end_kept(struct db *db)
{
	int rc;
	db->kept = 0;
	if (sqlite3_get_autocommit(db->h))
		return SQLITE_OK;
	rc = sqlite3_exec(db->h, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		log_msg(LOG_ERROR, "database: commit: %s",
			sqlite3_errmsg(db->h));
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
		writer_done();
	}
	return rc;
}

static void *closer_main(void *arg)
{
	struct timespec ts = {0, (long)KEEP_IDLE_US * 1000L};
	(void)arg;
	for (;;) {
		unsigned long long now;
		nanosleep(&ts, NULL);
		now = mono_us();
		pthread_mutex_lock(&keep_mu);
		for (struct db *db = keep_list; db; db = db->next) {
			if (pthread_mutex_trylock(&db->mu))
				continue; /* in use */
			if (db->kept && now - db->last_use >= KEEP_IDLE_US)
				end_kept(db);
			pthread_mutex_unlock(&db->mu);
		}
		pthread_mutex_unlock(&keep_mu);
	}
	return NULL;
}

/* Lists a connection for the closer (started with the first one). */
static void keep_register(struct db *db)
{
	pthread_attr_t attr;
	pthread_t t;

	if (db->keepable || !atomic_load(&wal_hdr))
		return;
	pthread_mutex_lock(&keep_mu);
	if (!closer_started && !pthread_attr_init(&attr)) {
		sigset_t all, old;
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		if (!pthread_create(&t, &attr, closer_main, NULL))
			closer_started = 1;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		pthread_attr_destroy(&attr);
	}
	if (closer_started) {
		db->next = keep_list;
		keep_list = db;
		db->keepable = 1;
	}
	pthread_mutex_unlock(&keep_mu);
}

void db_enter(void)
{
	struct db *db = tls_db;
	tls_section = 1;
	if (!db)
		return;
	if (!db->locked) {
		pthread_mutex_lock(&db->mu);
		db->locked = 1;
		keep_register(db);
	}
	if (db->kept) {
		unsigned char now[WAL_HDR];
		wal_header(now);
		if (memcmp(now, db->snap, WAL_HDR) ||
		    mono_us() - db->kept_at > KEEP_MAX_US)
			end_kept(db);
	}
}

void db_leave(void)
{
	struct db *db = tls_db;
	tls_section = 0;
	if (!db || !db->locked)
		return;
	if (db->kept) {
		/* A snapshot something has committed past is of no use to
		 * the next request, and while held it keeps writers from
		 * restarting the WAL (so every commit would checkpoint). */
		unsigned char now[WAL_HDR];
		wal_header(now);
		if (memcmp(now, db->snap, WAL_HDR))
			end_kept(db);
		else
			db->last_use = mono_us();
	}
	db->locked = 0;
	pthread_mutex_unlock(&db->mu);
}

/* A transaction-control statement: it must never run inside ours. */
static int tx_control(const char *sql)
{
	static const char *const kw[] = {"BEGIN", "SAVEPOINT", "COMMIT",
					 "END",   "ROLLBACK",  "RELEASE"};
	while (*sql == ' ' || *sql == '\t' || *sql == '\n')
		sql++;
	for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++)
		if (!strncasecmp(sql, kw[i], strlen(kw[i])))
			return 1;
	return 0;
}

static int any_busy(struct db *db)
{
	for (sqlite3_stmt *st = sqlite3_next_stmt(db->h, NULL); st;
	     st = sqlite3_next_stmt(db->h, st))
		if (sqlite3_stmt_busy(st))
			return 1;
	return 0;
}

/* Before st runs: keep a snapshot for a read, end ours for anything else.
 * A write prepared while a row loop of the kept transaction is still open
 * joins it; db_request_done commits it. */
static void keep_for(struct db *db, sqlite3_stmt *st, const char *sql)
{
	int reads = sqlite3_stmt_readonly(st) && !tx_control(sql);
	unsigned long long now;
	if (db->kept) {
		if (!reads && !any_busy(db))
			end_kept(db);
		return;
	}
	if (!reads || !db->keepable || !db->locked ||
	    !sqlite3_get_autocommit(db->h))
		return;
	wal_header(db->snap);
	now = mono_us();
	if (memcmp(db->snap, db->seen, WAL_HDR)) {
		memcpy(db->seen, db->snap, WAL_HDR);
		db->changed_at = now;
	}
	/* Only while writes are rare: under a stream of commits a kept
	 * snapshot is dropped at once anyway, and readers holding the WAL
	 * keep writers from starting it over, so it grows and every page
	 * lookup in it gets slower. */
	if (now - db->changed_at < KEEP_QUIET_US)
		return;
	if (sqlite3_exec(db->h, "BEGIN", NULL, NULL, NULL) == SQLITE_OK) {
		db->kept = 1;
		db->kept_at = now;
	}
}

int db_request_done(struct db *db)
{
	int rc;
	if (!db->kept || sqlite3_txn_state(db->h, NULL) != SQLITE_TXN_WRITE)
		return ATR_OK;
	rc = end_kept(db);
	if (rc == SQLITE_OK)
		return ATR_OK;
	return db_status(rc) == ATR_OK ? ATR_ERR : db_status(rc);
}

/* A new connection configured like every other; NULL if it cannot open
 * (logged). */
static struct db *open_conn(void)
{
	struct db *db = calloc(1, sizeof(*db));
	if (!db)
		return NULL;
	pthread_mutex_init(&db->mu, NULL);
	if (sqlite3_open_v2(db_path, &db->h,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		log_msg(LOG_ERROR, "database: cannot open: %s",
			db->h ? sqlite3_errmsg(db->h) : "out of memory");
		sqlite3_close(db->h);
		pthread_mutex_destroy(&db->mu);
		free(db);
		return NULL;
	}
	/* The busy handler first: two threads opening a new WAL database at
	 * once otherwise see SQLITE_BUSY while switching journal mode. */
	sqlite3_busy_handler(db->h, busy_wait, db);
	sqlite3_wal_hook(db->h, wal_hook, db);
	sqlite3_extended_result_codes(db->h, 1);
	if (exec_simple(db->h, "PRAGMA journal_mode=WAL;"
			       "PRAGMA synchronous=FULL;"
			       "PRAGMA foreign_keys=ON;"
			       "PRAGMA trusted_schema=OFF;") != SQLITE_OK) {
		db_free(db);
		return NULL;
	}
	return db;
}

struct db *db_thread(void)
{
	struct db *db;
	if (tls_db)
		return tls_db;
	if (!db_path || !(db = open_conn()))
		return NULL;
	tls_db = db;
	pthread_setspecific(db_key, db);
	map_wal_header();
	if (tls_section) {
		pthread_mutex_lock(&db->mu);
		db->locked = 1;
		keep_register(db);
	}
	return db;
}

void db_thread_close(void)
{
	if (!tls_db)
		return;
	if (tls_db->tx)
		db_rollback(tls_db);
	pthread_setspecific(db_key, NULL);
	db_free(tls_db);
	tls_db = NULL;
}

void db_shutdown(void)
{
	db_thread_close();
	writer_close();
}

sqlite3 *db_handle(struct db *db)
{
	return cur(db)->h;
}

static size_t sql_hash(const char *s)
{
	size_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

sqlite3_stmt *db_prepare(struct db *db, const char *sql)
{
	size_t h = sql_hash(sql), i;
	struct cached *c = NULL;

	db = cur(db);

	for (size_t probe = 0; probe < 4; probe++) {
		i = (h + probe) & (STMT_CACHE - 1);
		if (db->cache[i].sql && !strcmp(db->cache[i].sql, sql)) {
			sqlite3_reset(db->cache[i].st);
			sqlite3_clear_bindings(db->cache[i].st);
			keep_for(db, db->cache[i].st, sql);
			return db->cache[i].st;
		}
		if (!c && !db->cache[i].sql)
			c = &db->cache[i];
	}
	/* Evict a statement nobody is stepping: a caller may still be
	 * reading the rows of another one (a row callback that runs its own
	 * query), and finalizing that one would pull it from under it. */
	for (size_t probe = 0; !c && probe < 4; probe++) {
		i = (h + probe) & (STMT_CACHE - 1);
		if (!sqlite3_stmt_busy(db->cache[i].st))
			c = &db->cache[i];
	}
	if (!c) {
		log_msg(LOG_ERROR, "database: statement cache full of "
				   "statements in use");
		return NULL;
	}
	if (c->sql) {
		sqlite3_finalize(c->st);
		free(c->sql);
		c->st = NULL;
		c->sql = NULL;
	}
	if (sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT,
			       &c->st, NULL) != SQLITE_OK) {
		log_msg(LOG_ERROR, "database: prepare: %s",
			sqlite3_errmsg(db->h));
		sqlite3_finalize(c->st);
		c->st = NULL;
		return NULL;
	}
	if (!c->st) { /* empty statement */
		log_msg(LOG_ERROR, "database: prepare: empty statement");
		return NULL;
	}
	c->sql = strdup(sql);
	if (!c->sql) {
		sqlite3_finalize(c->st);
		c->st = NULL;
		return NULL;
	}
	keep_for(db, c->st, sql);
	return c->st;
}

int db_status(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return ATR_OK;
	case SQLITE_CONSTRAINT:
		return ATR_ECONFLICT;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return ATR_EBUSY;
	case SQLITE_NOMEM:
		return ATR_ENOMEM;
	case SQLITE_RANGE:
	case SQLITE_MISMATCH:
	case SQLITE_TOOBIG:
		return ATR_EINVAL;
	default:
		return ATR_ERR;
	}
}

int db_bind_json(sqlite3_stmt *st, json_t *params)
{
	size_t n = params ? json_array_size(params) : 0;
	int rc = SQLITE_OK;

	if (params && !json_is_array(params))
		return ATR_EINVAL;
	if ((int)n != sqlite3_bind_parameter_count(st))
		return ATR_EINVAL;
	for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
		json_t *v = json_array_get(params, i);
		int idx = (int)i + 1;
		switch (json_typeof(v)) {
		case JSON_INTEGER:
			rc = sqlite3_bind_int64(st, idx, json_integer_value(v));
			break;
		case JSON_REAL:
			rc = sqlite3_bind_double(st, idx, json_real_value(v));
			break;
		case JSON_STRING:
			rc = sqlite3_bind_text(st, idx, json_string_value(v),
					       (int)json_string_length(v),
					       SQLITE_TRANSIENT);
			break;
		case JSON_TRUE:
		case JSON_FALSE:
			rc = sqlite3_bind_int(st, idx, json_is_true(v));
			break;
		case JSON_NULL:
			rc = sqlite3_bind_null(st, idx);
			break;
		default:
			return ATR_EINVAL;
		}
	}
	return rc == SQLITE_OK ? ATR_OK : db_status(rc);
}

json_t *db_row_json(sqlite3_stmt *st)
{
	int n = sqlite3_column_count(st);
	json_t *row = json_object();
	if (!row)
		return NULL;
	for (int i = 0; i < n; i++) {
		json_t *v;
		switch (sqlite3_column_type(st, i)) {
		case SQLITE_INTEGER:
			v = json_integer(sqlite3_column_int64(st, i));
			break;
		case SQLITE_FLOAT:
			v = json_real(sqlite3_column_double(st, i));
			break;
		case SQLITE_TEXT:
			v = json_stringn(
			    (const char *)sqlite3_column_text(st, i),
			    (size_t)sqlite3_column_bytes(st, i));
			break;
		case SQLITE_NULL:
			v = json_null();
			break;
		default: /* blobs are not part of the JSON surface */
			v = json_null();
			break;
		}
		json_object_set_new(row, sqlite3_column_name(st, i),
				    v ? v : json_null());
	}
	return row;
}

static sqlite3_stmt *prep_bind(struct db *db, const char *sql, json_t *params,
			       int *status)
{
	sqlite3_stmt *st = db_prepare(db, sql);
	int rc;
	if (!st) {
		*status = ATR_ERR;
		return NULL;
	}
	if ((rc = db_bind_json(st, params)) != ATR_OK) {
		log_msg(LOG_ERROR, "database: parameters do not match statement");
		*status = rc;
		return NULL;
	}
	*status = ATR_OK;
	return st;
}

static int step_error(struct db *db, sqlite3_stmt *st, int rc)
{
	int s = db_status(rc);
	if (s != ATR_ECONFLICT)
		log_msg(LOG_ERROR, "database: %s", sqlite3_errmsg(cur(db)->h));
	sqlite3_reset(st);
	return s;
}

int db_exec(struct db *db, const char *sql, json_t *params,
	    long long *changes, long long *last_id)
{
	int status, rc;
	sqlite3_stmt *st = prep_bind(db, sql, params, &status);
	if (!st)
		return status;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	if (rc != SQLITE_DONE)
		return step_error(db, st, rc);
	if (changes)
		*changes = sqlite3_changes64(cur(db)->h);
	if (last_id)
		*last_id = sqlite3_last_insert_rowid(cur(db)->h);
	sqlite3_reset(st);
	return ATR_OK;
}

int db_each_cols(struct db *db, const char *sql, json_t *params,
		 atr_cols_fn fn, void *arg)
{
	int status, rc;
	sqlite3_stmt *st = prep_bind(db, sql, params, &status);
	if (!st)
		return status;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (fn(arg, (const struct atr_cols *)(void *)st)) {
			sqlite3_reset(st);
			return ATR_OK;
		}
	}
	if (rc != SQLITE_DONE)
		return step_error(db, st, rc);
	sqlite3_reset(st);
	return ATR_OK;
}

/* db_each's rows: each as a new JSON object, for fn. */
struct json_rows {
	atr_row_fn fn;
	void *arg;
	int rc;
};

static int row_as_json(void *arg, const struct atr_cols *cols)
{
	struct json_rows *j = arg;
	json_t *row = db_row_json((sqlite3_stmt *)(uintptr_t)cols);
	int stop;
	if (!row) {
		j->rc = ATR_ENOMEM;
		return 1;
	}
	stop = j->fn(j->arg, row);
	json_decref(row);
	return stop;
}

int db_each(struct db *db, const char *sql, json_t *params, atr_row_fn fn,
	    void *arg)
{
	struct json_rows j = {fn, arg, ATR_OK};
	int rc = db_each_cols(db, sql, params, row_as_json, &j);
	return rc == ATR_OK ? j.rc : rc;
}

static int append_row(void *arg, json_t *row)
{
	return json_array_append(arg, row) != 0;
}

json_t *db_query(struct db *db, const char *sql, json_t *params)
{
	json_t *rows = json_array();
	if (!rows)
		return NULL;
	if (db_each(db, sql, params, append_row, rows) != ATR_OK) {
		json_decref(rows);
		return NULL;
	}
	return rows;
}

json_t *db_one(struct db *db, const char *sql, json_t *params, int *status)
{
	int s, rc;
	json_t *row = NULL;
	sqlite3_stmt *st = prep_bind(db, sql, params, &s);
	if (!st)
		goto out;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		row = db_row_json(st);
		s = row ? ATR_OK : ATR_ENOMEM;
	} else if (rc == SQLITE_DONE) {
		s = ATR_ENOTFOUND;
	} else {
		s = step_error(db, st, rc);
		goto out;
	}
	sqlite3_reset(st);
out:
	if (status)
		*status = s;
	return row;
}

/* The -wal file for fdatasync, and its directory synced once, as SQLite
 * does when it first syncs a new WAL (with synchronous=NORMAL it never
 * does). -1 if either fails. */
static int open_wal(void)
{
	size_t n = strlen(db_path);
	char *path = malloc(n + 5), *slash;
	int fd = -1, dir;

	if (!path)
		return -1;
	memcpy(path, db_path, n);
	memcpy(path + n, "-wal", 5);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if ((slash = strrchr(path, '/')))
		slash[slash == path] = '\0';
	else
		strcpy(path, ".");
	dir = fd < 0 ? -1 : open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0 || fsync(dir)) {
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	if (dir >= 0)
		close(dir);
	free(path);
	return fd;
}

/* The write connection: like any other, but committing without a sync
 * when the -wal file could be opened for group commit. */
static struct db *writer_open(void)
{
	struct db *w = open_conn();
	int fd;
	if (!w)
		return NULL;
	fd = open_wal();
	if (fd >= 0 &&
	    exec_simple(w->h, "PRAGMA synchronous=NORMAL") != SQLITE_OK) {
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		log_msg(LOG_WARN, "database: no group commit: the WAL file "
				  "cannot be opened; each commit syncs alone");
	pthread_mutex_lock(&sync_mu);
	wal_fd = fd;
	pthread_mutex_unlock(&sync_mu);
	return w;
}

/* Closes the write connection (not in use) once no sync runs on its
 * -wal file. */
static void writer_close(void)
{
	if (!wconn)
		return;
	pthread_mutex_lock(&sync_mu);
	while (syncing)
		pthread_cond_wait(&sync_cv, &sync_mu);
	if (wal_fd >= 0)
		close(wal_fd);
	wal_fd = -1;
	pthread_mutex_unlock(&sync_mu);
	db_free(wconn);
	wconn = NULL;
}

/* Returns once commit number seq is on disk: syncs the -wal file, or
 * waits for the sync another thread started (if it started after seq, it
 * covers it; if not, one more round). ATR_ERR if a sync that had to cover
 * it failed: the change is committed and visible, but may not survive a
 * crash (a later sync that succeeds proves nothing: Linux reports a failed
 * writeback once and forgets the pages). */
static int wal_sync(unsigned long long seq)
{
	unsigned long long upto;
	int failed_now = 0, fd, ok, rc;

	pthread_mutex_lock(&sync_mu);
	while (synced < seq && failed < seq) {
		if (syncing) {
			pthread_cond_wait(&sync_cv, &sync_mu);
			continue;
		}
		upto = committed;
		fd = wal_fd;
		syncing = 1;
		pthread_mutex_unlock(&sync_mu);
		ok = fd >= 0 && fdatasync(fd) == 0;
		pthread_mutex_lock(&sync_mu);
		sync_calls++;
		syncing = 0;
		pthread_cond_broadcast(&sync_cv);
		if (!ok) {
			failed_now = 1;
			failed = upto;
		} else if (upto > synced) {
			synced = upto;
		}
	}
	rc = failed >= seq ? ATR_ERR : ATR_OK;
	pthread_mutex_unlock(&sync_mu);
	if (failed_now)
		log_msg(LOG_ERROR, "database: syncing the WAL failed: "
				   "committed changes may not survive a crash");
	return rc;
}

void db_sync_stats(unsigned long long *commits, unsigned long long *syncs,
		   unsigned long long *durable)
{
	pthread_mutex_lock(&sync_mu);
	*commits = committed;
	*syncs = sync_calls;
	*durable = synced;
	pthread_mutex_unlock(&sync_mu);
}

/* Gives the write connection back once its transaction is over (ended by
 * COMMIT or ROLLBACK, or by SQLite itself after some errors). */
static void writer_release(struct db *db)
{
	if (db->tx && sqlite3_get_autocommit(db->tx->h)) {
		db->tx = NULL;
		pthread_mutex_unlock(&wconn_mu);
	}
}

int db_in_tx(struct db *db)
{
	writer_release(db);
	if (db->tx)
		return 1;
	return !sqlite3_get_autocommit(db->h) && !db->kept;
}

static int simple(struct db *db, const char *sql)
{
	return db_exec(db, sql, NULL, NULL, NULL);
}

/* Takes the write connection, waiting up to the busy timeout for the
 * thread that holds it. ATR_OK, ATR_EBUSY, or ATR_ERR if it cannot open. */
static int writer_take(struct db *db)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += db_busy_ms / 1000;
	until.tv_nsec += (long)(db_busy_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	if (pthread_mutex_clocklock(&wconn_mu, CLOCK_MONOTONIC, &until))
		return ATR_EBUSY;
	if (!wconn && !(wconn = writer_open())) {
		pthread_mutex_unlock(&wconn_mu);
		return ATR_ERR;
	}
	db->tx = wconn;
	return ATR_OK;
}

int db_begin(struct db *db)
{
	int rc;
	if (db_in_tx(db))
		return ATR_EBUSY;
	if (db->kept)
		end_kept(db);
	/* The write connection once there is one to share: a file in WAL
	 * mode (the wal-index is mapped then; a new database has one once
	 * its first connection has read it). */
	map_wal_header();
	if (atomic_load(&wal_hdr) && (rc = writer_take(db)) != ATR_OK)
		return rc;
	rc = simple(db, "BEGIN IMMEDIATE");
	writer_release(db);
	return rc;
}

int db_commit(struct db *db)
{
	unsigned long long seq = 0;
	int rc;
	if (!db_in_tx(db))
		return ATR_EINVAL;
	rc = simple(db, "COMMIT");
	if (rc == ATR_OK && db->tx && wal_fd >= 0) {
		pthread_mutex_lock(&sync_mu);
		seq = ++committed;
		pthread_mutex_unlock(&sync_mu);
	}
	writer_release(db);
	return seq ? wal_sync(seq) : rc;
}

int db_rollback(struct db *db)
{
	int rc;
	if (!db_in_tx(db))
		return ATR_OK;
	rc = simple(db, "ROLLBACK");
	writer_release(db);
	writer_done();
	return rc;
}

int db_script(struct db *db, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;
	int rc;
	if (db->kept)
		end_kept(db);
	rc = sqlite3_exec(cur(db)->h, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s", msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

sqlite3_stmt *db_stmt(struct db *db, const char *sql, const char *types, ...)
{
	va_list ap;
	sqlite3_stmt *st = db_prepare(db, sql);
	int rc = SQLITE_OK, idx = 1;

	if (!st)
		return NULL;
	va_start(ap, types);
	for (const char *t = types; *t && rc == SQLITE_OK; t++, idx++) {
		switch (*t) {
		case 'i':
			rc = sqlite3_bind_int64(st, idx, va_arg(ap, long long));
			break;
		case 'I':
			rc = sqlite3_bind_int(st, idx, va_arg(ap, int));
			break;
		case 'd':
			rc = sqlite3_bind_double(st, idx, va_arg(ap, double));
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			rc = s ? sqlite3_bind_text(st, idx, s, -1,
						   SQLITE_TRANSIENT)
			       : sqlite3_bind_null(st, idx);
			break;
		}
		case 'n':
			rc = sqlite3_bind_null(st, idx);
			break;
		default:
			rc = SQLITE_MISUSE;
		}
	}
	va_end(ap);
	if (rc != SQLITE_OK || idx - 1 != sqlite3_bind_parameter_count(st)) {
		log_msg(LOG_ERROR, "database: bad bind for statement");
		sqlite3_reset(st);
		return NULL;
	}
	return st;
}

int db_done(sqlite3_stmt *st)
{
	int rc;
	if (!st)
		return ATR_ERR;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	if (rc != SQLITE_DONE) {
		int s = db_status(rc);
		if (s != ATR_ECONFLICT)
			log_msg(LOG_ERROR, "database: %s",
				sqlite3_errmsg(sqlite3_db_handle(st)));
		sqlite3_reset(st);
		return s;
	}
	sqlite3_reset(st);
	return ATR_OK;
}

static const char migrations_table[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " owner TEXT NOT NULL, id INTEGER NOT NULL,"
    " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')),"
    " PRIMARY KEY (owner, id))";

json_t *db_migrations_applied(struct db *db, const char *owner)
{
	json_t *ids = json_array();
	sqlite3_stmt *st;
	if (simple(db, migrations_table) != ATR_OK)
		return ids;
	st = db_stmt(db,
		     "SELECT id FROM schema_migrations WHERE owner = ?"
		     " ORDER BY id",
		     "s", owner);
	while (st && sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(ids,
				      json_integer(sqlite3_column_int64(st, 0)));
	if (st)
		sqlite3_reset(st);
	return ids;
}

static int has_migration(const struct atr_migration *m, long long id)
{
	for (; m && m->sql; m++)
		if (m->id == id)
			return 1;
	return 0;
}

int db_migrate(struct db *db, const char *owner,
	       const struct atr_migration *migs, char *err, size_t errlen)
{
	json_t *applied = NULL;
	size_t i;
	json_t *v;
	int prev = 0, own;
	char msg[512];

	for (const struct atr_migration *m = migs; m && m->sql; m++) {
		if (m->id <= prev) {
			snprintf(err, errlen,
				 "migration %d is out of order (after %d)",
				 m->id, prev);
			return -1;
		}
		prev = m->id;
	}
	own = !db_in_tx(db);
	if (own && db_begin(db) != ATR_OK) {
		snprintf(err, errlen, "cannot start a transaction");
		return -1;
	}
	/* A savepoint, so a failure undoes our part even inside the caller's
	 * transaction (a script may fail after its first statements ran). */
	if (simple(db, "SAVEPOINT db_migrate") != ATR_OK) {
		snprintf(err, errlen, "cannot start a savepoint");
		goto fail_tx;
	}
	applied = db_migrations_applied(db, owner);
	json_array_foreach(applied, i, v)
	{
		long long id = json_integer_value(v);
		if (!has_migration(migs, id)) {
			snprintf(err, errlen,
				 id > prev ? "migration %lld recorded in the "
					     "database is newer than this code "
					     "(latest %d): refusing to start"
					   : "migration %lld recorded in the "
					     "database is missing from this "
					     "code (latest %d): refusing to "
					     "start",
				 id, prev);
			goto fail;
		}
	}
	for (const struct atr_migration *m = migs; m && m->sql; m++) {
		int done = 0;
		json_array_foreach(applied, i, v) if (json_integer_value(v) ==
						      m->id) done = 1;
		if (done)
			continue;
		if (db_script(db, m->sql, msg, sizeof(msg))) {
			snprintf(err, errlen, "migration %d failed: %s", m->id,
				 msg);
			goto fail;
		}
		if (db_done(db_stmt(db,
				    "INSERT INTO schema_migrations (owner, id)"
				    " VALUES (?, ?)",
				    "si", owner, (long long)m->id)) != ATR_OK) {
			snprintf(err, errlen, "cannot record migration %d",
				 m->id);
			goto fail;
		}
	}
	if (simple(db, "RELEASE db_migrate") != ATR_OK) {
		snprintf(err, errlen, "cannot release the savepoint");
		goto fail;
	}
	if (own && db_commit(db) != ATR_OK) {
		snprintf(err, errlen, "cannot commit migrations");
		goto fail_tx;
	}
	json_decref(applied);
	return 0;
fail:
	simple(db, "ROLLBACK TO db_migrate");
	simple(db, "RELEASE db_migrate");
fail_tx:
	if (own)
		db_rollback(db);
	json_decref(applied);
	return -1;
}
