/*
 * arena.h - a bump allocator for memory that lives exactly as long as one
 * request, job run or plugin init. Nothing is freed one by one; arena_release
 * frees it all. Not thread-safe: an arena belongs to the thread running the
 * request. Not a general allocator: large or long-lived data goes elsewhere.
 */
#ifndef ATRIUM_ARENA_H
#define ATRIUM_ARENA_H

#include <stdarg.h>
#include <stddef.h>

struct arena_block;

struct arena {
	struct arena_block *head;
	char inline_buf[2048]; /* first allocations cost no malloc */
	size_t inline_used;
};

void arena_init(struct arena *a);
/* Frees every block; the arena can be used again afterwards. */
void arena_release(struct arena *a);
/* Zeroed, 16-byte aligned memory; NULL only when malloc fails. */
void *arena_alloc(struct arena *a, size_t n);
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_vsprintf(struct arena *a, const char *fmt, va_list ap);
char *arena_sprintf(struct arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
