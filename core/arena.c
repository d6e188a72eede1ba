/*
 * arena.c - bump allocation with an inline first block, then malloc'd blocks
 * chained from the head. See arena.h for the contract.
 */
#include "arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct arena_block {
	struct arena_block *next;
	size_t used, cap;
	_Alignas(16) char data[];
};

#define ALIGN16(n) (((n) + 15u) & ~(size_t)15u)

void arena_init(struct arena *a)
{
	a->head = NULL;
	a->inline_used = 0;
}

void arena_release(struct arena *a)
{
	struct arena_block *b = a->head;
	while (b) {
		struct arena_block *next = b->next;
		free(b);
		b = next;
	}
	a->head = NULL;
	a->inline_used = 0;
}

void *arena_alloc(struct arena *a, size_t n)
{
	size_t need = ALIGN16(n ? n : 1), skew;
	void *p;

	if (need < n || need > SIZE_MAX - sizeof(struct arena_block))
		return NULL;
	/* inline_buf itself need not sit on a 16-byte boundary (it follows
	 * a pointer in struct arena): skip to the first one that does. */
	skew = (16u - ((uintptr_t)a->inline_buf & 15u)) & 15u;
	if (!a->head && a->inline_used == 0)
		a->inline_used = skew;
	if (!a->head && a->inline_used + need <= sizeof(a->inline_buf)) {
		p = a->inline_buf + a->inline_used;
		a->inline_used += need;
		memset(p, 0, need);
		return p;
	}
	if (!a->head || a->head->used + need > a->head->cap) {
		size_t cap = need > 8192 ? need : 8192;
		struct arena_block *b = malloc(sizeof(*b) + cap);
		if (!b)
			return NULL;
		b->next = a->head;
		b->used = 0;
		b->cap = cap;
		a->head = b;
	}
	p = a->head->data + a->head->used;
	a->head->used += need;
	memset(p, 0, need);
	return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
	return s ? arena_strndup(a, s, strlen(s)) : NULL;
}

char *arena_vsprintf(struct arena *a, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;
	char *p;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return NULL;
	p = arena_alloc(a, (size_t)n + 1);
	if (p)
		vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *arena_sprintf(struct arena *a, const char *fmt, ...)
{
	va_list ap;
	char *p;
	va_start(ap, fmt);
	p = arena_vsprintf(a, fmt, ap);
	va_end(ap);
	return p;
}
