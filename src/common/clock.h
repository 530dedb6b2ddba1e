/*
 * The clocks, read one way everywhere: the monotonic clock for timeouts,
 * delays and rates (it never jumps), the real one only for what a human
 * or another host reads (ban ends, dates).  clock_gettime cannot fail for
 * these clocks on Linux.
 */
#ifndef SMTPAUTH_CLOCK_H
#define SMTPAUTH_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t
mono_sec(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

static inline int64_t
mono_msec(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t
mono_usec(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline time_t
real_sec(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

#endif
