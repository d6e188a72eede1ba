/*
 * test_arena.c - unit tests for core/arena.c: every allocation is zeroed
 * and 16-byte aligned wherever the arena itself sits, earlier allocations
 * survive later ones (inline buffer, then blocks, then oversized blocks),
 * the string helpers, release and reuse, and absurd sizes fail cleanly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

static int aligned16(const void *p)
{
	return ((uintptr_t)p & 15u) == 0;
}

/* An arena at a 16-byte boundary puts inline_buf (after one pointer) at
 * 8 mod 16; the other placement puts it at 0 mod 16. Both must align. */
struct at0 {
	_Alignas(16) struct arena a;
};
struct at8 {
	_Alignas(16) char pad[8];
	struct arena a;
};

static void check_alignment(struct arena *a)
{
	static const size_t sizes[] = {1, 3, 8, 15, 16, 17, 100, 1000, 5000,
				       9000, 7, 1};
	arena_init(a);
	for (int round = 0; round < 20; round++)
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			unsigned char *p = arena_alloc(a, sizes[i]);
			assert_non_null(p);
			if (!aligned16(p))
				fail_msg("size %zu at %p not aligned", sizes[i],
					 (void *)p);
			for (size_t k = 0; k < sizes[i]; k++)
				assert_int_equal(p[k], 0);
			memset(p, 0xab, sizes[i]);
		}
	arena_release(a);
}

static void test_alignment_any_placement(void **state)
{
	static struct at0 s0;
	static struct at8 s8;
	struct at0 *h0 = malloc(sizeof(*h0));
	(void)state;
	assert_non_null(h0);
	check_alignment(&s0.a);
	check_alignment(&s8.a);
	check_alignment(&h0->a);
	free(h0);
}

static void test_earlier_allocations_survive(void **state)
{
	struct arena a;
	char *ptrs[600];
	(void)state;
	arena_init(&a);
	/* Far past the inline buffer and several 8 KiB blocks, with a few
	 * oversized requests in between. */
	for (int i = 0; i < 600; i++) {
		size_t n = (i % 50 == 49) ? 20000 : 40;
		ptrs[i] = arena_alloc(&a, n);
		assert_non_null(ptrs[i]);
		snprintf(ptrs[i], 40, "allocation %d", i);
	}
	for (int i = 0; i < 600; i++) {
		char want[40];
		snprintf(want, sizeof(want), "allocation %d", i);
		assert_string_equal(ptrs[i], want);
	}
	arena_release(&a);
}

static void test_strings(void **state)
{
	struct arena a;
	char big[5000], *p;
	(void)state;
	arena_init(&a);
	assert_string_equal(arena_strdup(&a, "hello"), "hello");
	assert_null(arena_strdup(&a, NULL));
	assert_string_equal(arena_strndup(&a, "abcdef", 3), "abc");
	p = arena_strndup(&a, "ab\0cd", 5);
	assert_int_equal(memcmp(p, "ab\0cd", 6), 0);
	assert_string_equal(arena_sprintf(&a, "%s-%d-%05.1f", "x", 42, 2.25),
			    "x-42-002.2");
	/* Longer than the inline buffer. */
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	p = arena_sprintf(&a, "<%s>", big);
	assert_non_null(p);
	assert_int_equal(strlen(p), sizeof(big) + 1);
	assert_int_equal(p[0], '<');
	assert_int_equal(p[sizeof(big)], '>');
	assert_string_equal(arena_sprintf(&a, "%s", ""), "");
	arena_release(&a);
}

static void test_zero_size(void **state)
{
	struct arena a;
	void *p, *q;
	(void)state;
	arena_init(&a);
	p = arena_alloc(&a, 0);
	q = arena_alloc(&a, 0);
	assert_non_null(p);
	assert_non_null(q);
	assert_ptr_not_equal(p, q);
	arena_release(&a);
}

static void test_release_and_reuse(void **state)
{
	struct arena a;
	char *p;
	(void)state;
	arena_init(&a);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 100; i++)
			assert_non_null(arena_alloc(&a, 300));
		arena_release(&a);
		assert_null(a.head);
		p = arena_alloc(&a, 16);
		assert_non_null(p);
		/* The first allocation after a release is inline again. */
		assert_true(p >= a.inline_buf &&
			    p < a.inline_buf + sizeof(a.inline_buf));
		arena_release(&a);
	}
}

static void test_absurd_sizes_fail(void **state)
{
	struct arena a;
	(void)state;
	arena_init(&a);
	/* Sizes whose rounding up to 16 wraps around... */
	assert_null(arena_alloc(&a, SIZE_MAX));
	assert_null(arena_alloc(&a, SIZE_MAX - 8));
	/* ...and one whose block header would: all refused before malloc
	 * (so this also runs under AddressSanitizer). */
	assert_null(arena_alloc(&a, SIZE_MAX - 20));
	/* Still usable afterwards. */
	assert_non_null(arena_alloc(&a, 32));
	arena_release(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_alignment_any_placement),
	    cmocka_unit_test(test_earlier_allocations_survive),
	    cmocka_unit_test(test_strings),
	    cmocka_unit_test(test_zero_size),
	    cmocka_unit_test(test_release_and_reuse),
	    cmocka_unit_test(test_absurd_sizes_fail),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
