/*
 * tmpdb.h - a fresh SQLite database file for each unit test, in one
 * temporary folder per test binary, for the tests of core/db.c and what
 * sits on it. Header-only (each test is one binary).
 *
 *   group setup:    tmpdb_init(&T, "audit")     mkdtemp /tmp/atrium-test-audit-*
 *   test setup:     db = tmpdb_open(&T, 1000)   next file, this thread's connection
 *   test teardown:  tmpdb_remove(&T)            connections closed, files unlinked
 *   group teardown: tmpdb_fini(&T)              folder removed
 */
#ifndef ATRIUM_TEST_TMPDB_H
#define ATRIUM_TEST_TMPDB_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "db.h"

struct tmpdb {
	char dir[128];
	char path[256]; /* the current test's database */
	int seq;
};

/* 0, or -1 if the folder cannot be made. */
static inline int tmpdb_init(struct tmpdb *t, const char *name)
{
	/* mkdtemp replaces the six X with a unique name */
	snprintf(t->dir, sizeof(t->dir), "/tmp/atrium-test-%s-XXXXXX", name);
	t->seq = 0;
	t->path[0] = '\0';
	return mkdtemp(t->dir) ? 0 : -1;
}

/* This thread's connection to a new, empty database file (the previous
 * one closed); NULL on failure. */
static inline struct db *tmpdb_open(struct tmpdb *t, int busy_timeout_ms)
{
	db_thread_close();
	snprintf(t->path, sizeof(t->path), "%s/t%d.db", t->dir, t->seq++);
	if (db_setup(t->path, busy_timeout_ms))
		return NULL;
	return db_thread();
}

static inline void tmpdb_remove(struct tmpdb *t)
{
	char side[300];
	db_shutdown(); /* the write connection too: it has the file open */
	unlink(t->path);
	snprintf(side, sizeof(side), "%s-wal", t->path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", t->path);
	unlink(side);
}

static inline void tmpdb_fini(struct tmpdb *t)
{
	db_shutdown();
	rmdir(t->dir);
}

#endif
