/*
 * demo.h - the demo practice for `make run`: a few accounts with known
 * passwords (printed, and listed in README.md), then each plugin's own demo
 * data. Runs only on a database without accounts; never touches real data.
 */
#ifndef ATRIUM_DEMO_H
#define ATRIUM_DEMO_H

struct db;

/* 0 on success or when the database already has accounts (nothing done). */
int demo_init(struct db *db);

#endif
