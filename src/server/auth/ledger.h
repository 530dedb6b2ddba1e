/*
 * Failure ledgers of the auth process: how many failed authentications a
 * key (a client address, an account name) had within a sliding window.
 *
 * The table is bounded: when it is full the entry whose last failure is
 * the oldest is forgotten.  Each entry keeps up to LEDGER_RING (second,
 * count) pairs; failures in the same second share a pair, and when more
 * distinct seconds are needed the two oldest pairs are merged into the
 * later one, so a count is exact up to LEDGER_RING failures and never too
 * low beyond (failures only ever look younger than they are).
 *
 * Times are seconds from any monotonic clock, given by the caller.
 */
#ifndef SMTPAUTHD_LEDGER_H
#define SMTPAUTHD_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#define LEDGER_KEY_MAX	255
#define LEDGER_RING	16

struct ledger;

/* window: seconds; maxentries: keys kept at most.  NULL: no memory. */
struct ledger	*ledger_new(unsigned window, size_t maxentries);
/*
 * The same in memory from alloc (zeroed, never given back: the region of
 * authstate.h), every entry made at once, so that the ledger lives on in
 * that memory after the process that made it.  ledger_free() leaves it.
 */
struct ledger	*ledger_new_in(unsigned window, size_t maxentries,
		    void *(*alloc)(size_t));
/* A new auth-window for the failures to come and those kept. */
void		 ledger_set_window(struct ledger *, unsigned window);
void		 ledger_free(struct ledger *);

/* Failures of key within the window ending at now. */
unsigned	 ledger_count(struct ledger *, const void *key, size_t keylen,
		    uint64_t now);
/*
 * Record a failure of key at now; returns the failures within the window,
 * this one included (0: the key is too long or there was no memory).
 */
unsigned	 ledger_fail(struct ledger *, const void *key, size_t keylen,
		    uint64_t now);
/* Forget key. */
void		 ledger_clear(struct ledger *, const void *key, size_t keylen);
/* Forget every key without a failure within the window. */
void		 ledger_expire(struct ledger *, uint64_t now);
/* Keys held. */
size_t		 ledger_size(const struct ledger *);

#endif
