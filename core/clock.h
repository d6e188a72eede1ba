/*
 * clock.h - the monotonic clock in microseconds, for durations and
 * deadlines (request timing, kept read transactions).
 */
#ifndef ATRIUM_CLOCK_H
#define ATRIUM_CLOCK_H

#include <time.h>

static inline unsigned long long mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ull +
	       (unsigned long long)ts.tv_nsec / 1000ull;
}

#endif
