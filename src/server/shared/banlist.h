/*
 * Banned client addresses, shared by every process of smtpauthd.
 *
 * The parent makes the table before it forks, so it outlives a restarted
 * auth process.  Only the auth process writes; the workers read it when
 * they accept a connection, through a view that the kernel keeps
 * read-only (see banlist.c).  Entries carry a sequence number so that a
 * reader never trusts a half-written entry.
 *
 * The table never refuses a ban: when it is full, an entry whose ban has
 * ended makes room, else the one that would end soonest.
 */
#ifndef SMTPAUTHD_BANLIST_H
#define SMTPAUTHD_BANLIST_H

#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define BANLIST_SIZE_MIN	1
#define BANLIST_SIZE_MAX	1048576
#define BANLIST_PREFIX6_MIN	32
#define BANLIST_PREFIX6_MAX	128

/*
 * What a ban covers: an IPv4 address (also when IPv4-mapped) is
 * ::ffff:a.b.c.d/128, an IPv6 address its prefix of plen bits with the
 * rest zero.  The auth process keys its failure ledger the same way.
 */
struct banlist_key {
	uint8_t	addr[16];
	uint8_t	plen;
};

/*
 * Parent, before the fork: a table that holds up to entries bans.  Called
 * again (in tests): a new, empty table.  0, or -1 with errno set (the
 * seal needs Linux 5.1).
 */
int	banlist_init(size_t entries);
/* A worker or the queue, after the fork: give up write access for good. */
void	banlist_readonly(void);

/* The key of an address, IPv6 by its first prefix6 bits.  0, or -1. */
int	banlist_key(const struct sockaddr *, unsigned prefix6,
	    struct banlist_key *);
/* "192.0.2.1", "2001:db8:1:2::/64". */
const char *banlist_key_fmt(const struct banlist_key *, char *, size_t);
/* The reverse of banlist_key_fmt() (bits past the prefix cleared).  0/-1. */
int	banlist_key_parse(const char *, struct banlist_key *);

/*
 * Auth: ban key until (CLOCK_REALTIME seconds).  0; 1 when a full table
 * evicted another entry for it (that entry in *evicted, its end in
 * *evicted_until); -1 on bad arguments or without write access.
 */
int	banlist_add(const struct banlist_key *, time_t until,
	    struct banlist_key *evicted, time_t *evicted_until);
/* Auth: lift the ban of exactly key.  1 when there was one, else 0. */
int	banlist_remove(const struct banlist_key *);
/* Auth: call cb for each ban in force (no order). */
void	banlist_foreach(void (*cb)(const struct banlist_key *, time_t until,
	    void *), void *arg);
/* Call cb for each entry whose ban has ended, and remove it. */
void	banlist_expire(void (*cb)(const struct banlist_key *));	/* auth */

/*
 * Worker: is the address banned now, under any prefix length a ban in
 * the table uses?  Its end in *until when not NULL.
 */
int	banlist_check(const struct sockaddr *, time_t *until);

/* Any process: cb for each ban in force, with its end.  Returns how many. */
int	banlist_each(void (*cb)(void *, const struct banlist_key *, time_t),
	    void *arg);
/* Bans in the table (ended ones too until the auth process's next tick). */
size_t	banlist_active(void);
/*
 * Auth: lift every ban that covers sa (an IPv6 address under each prefix
 * length in use, or only plen when not 0), cb for each.  Returns how many.
 */
int	banlist_unban(const struct sockaddr *sa, unsigned plen,
	    void (*cb)(const struct banlist_key *));

#endif
