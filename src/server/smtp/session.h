/*
 * One SMTP session: the state machine of smtpauthd.
 */
#ifndef SMTPAUTHD_SESSION_H
#define SMTPAUTHD_SESSION_H

#include <sys/queue.h>
#include <sys/socket.h>

#include <stdint.h>
#include <time.h>

#include "server/shared/spool.h"
#include "server/smtp/cmdparse.h"
#include "server/smtp/dataparse.h"

struct worker;
struct listen_conf;
struct tls;
struct milter;

enum session_state {
	STATE_INIT,		/* greeting not sent yet */
	STATE_PROXY,		/* waiting for the PROXY header */
	STATE_TLS,		/* TLS handshake (implicit or STARTTLS) */
	STATE_CONNECTED,	/* waiting for HELO/EHLO */
	STATE_HELO,		/* no transaction */
	STATE_MAIL,		/* MAIL given */
	STATE_RCPT,		/* at least one RCPT accepted */
	STATE_DATA,		/* reading the DATA body */
	STATE_BDAT,		/* reading a BDAT chunk */
	STATE_BDAT_WAIT,	/* between BDAT chunks */
	STATE_AUTH_PLAIN,	/* 334 sent, waiting for the PLAIN response */
	STATE_AUTH_LOGIN_USER,	/* 334 Username: sent */
	STATE_AUTH_LOGIN_PASS,	/* 334 Password: sent */
	STATE_AUTH_WAIT,	/* asking the auth process, or its delay */
	STATE_AUTH_SASL,	/* 334 challenge sent, waiting for the answer */
	STATE_SPOOLING,		/* waiting for the spool commit */
	STATE_QUIT,		/* reply flushing, then close */
	STATE_COUNT
};

struct txn_rcpt {
	char	addr[ADDR_PATH_MAX + 1];
	int	remote;
};

struct session {
	TAILQ_ENTRY(session)	 entry;
	struct worker		*w;
	const struct listen_conf *lc;
	char			 id[SPOOL_ID_LEN + 1];
	int			 fd;
	struct sockaddr_storage	 peer;
	char			 peerip[64];
	unsigned		 peerport;
	int			 exempt;	/* peer is in auth-exempt */
	struct timespec		 start;

	struct event		*ev_read;
	struct event		*ev_write;
	struct event		*ev_timer;
	struct evbuffer		*in;
	struct evbuffer		*out;
	struct tls		*tls;		/* NULL: clear text */
	char			 tls_info[96];	/* "TLSv1.3:CIPHER:256" */

	enum session_state	 state;
	unsigned		 flags;
	unsigned		 errors;
	unsigned		 junk;		/* NOOP, RSET, VRFY... so far */
	unsigned		 nmessages;
	char			 helo[256];

	/* Authentication (RFC 4954). */
	char			*auth_user;	/* NULL until 235 */
	enum session_state	 auth_return;	/* state after AUTH */
	unsigned		 auth_failures;
	int			 auth_mech;	/* enum auth_mech */
	char			 auth_login[256];	/* LOGIN user name */
	size_t			 auth_loginlen;
	uint32_t		 auth_req;	/* authclient handle, 0 none */
	int			 auth_result;
	int			 auth_banned;
	char			 auth_mech_name[24];	/* AUTH_MECH_SASL */
	uint32_t		 auth_xid;	/* the auth process's exchange */
	/* A sending-limit question (session_limit.c) on auth_req. */
	int			 limit_kind;	/* enum limit_kind */
	void			(*limit_done)(struct session *, int);
	/* A recipient lookup (session_rcpt.c) on auth_req. */
	void			(*rcpt_done)(struct session *, const char *);
	char			 rcpt_addr[ADDR_PATH_MAX + 1];

	/* The transaction. */
	struct mail_args	 mail;
	struct txn_rcpt		*rcpts;
	size_t			 nrcpts;
	struct dataparse	 dp;
	struct spool_msg	 msg;
	int			 msg_open;
	struct evbuffer		*body;		/* waiting to be written */
	uint64_t		 bdat_left;	/* octets of this chunk */
	uint64_t		 bdat_size;	/* octets of all chunks */
	int			 bdat_last;
	/* Octets of a refused BDAT chunk still to be thrown away; not the
	 * transaction's, and no state: a refused command changes none. */
	uint64_t		 skip;
	int			 commit_result;
	int			 commit_errno;
	/* The message's deadline (SF_DEADLINE): data-timeout ahead at its
	 * start, pushed back by data-min-rate for every octet read, never
	 * more than data-timeout ahead (CLOCK_MONOTONIC). */
	struct timespec		 deadline;

	struct milter		*milter;	/* NULL: none (session_milter.c) */
};

/* Session flags. */
#define SF_EHLO		0x01	/* EHLO (not HELO) was used */
#define SF_DISCARD	0x02	/* skipping the rest of an over-long line */
#define SF_CLOSING	0x04	/* close once the output is flushed */
#define SF_BUSY		0x08	/* a job is running for this session */
#define SF_DEAD		0x10	/* the connection is gone; free when idle */
#define SF_READ_OFF	0x20	/* input paused (buffer full) */
#define SF_DRAIN	0x40	/* worker stopping: 421 at the next chance */
#define SF_WERR		0x80	/* the socket failed: nothing more is written */
#define SF_IPCOUNTED	0x100	/* counted in iplimit */
#define SF_STARTTLS	0x200	/* handshake once the 220 is written */
#define SF_TLS_RW	0x400	/* a TLS read waits for the socket to write */
#define SF_TLS_WR	0x800	/* a TLS write waits for the socket to read */
#define SF_AUTHWAIT	0x1000	/* waiting for the auth process or a delay */
#define SF_EOF		0x2000	/* the client shut down its side */
#define SF_DEADLINE	0x4000	/* s->deadline runs: a message arrives */
#define SF_MILTER	0x8000	/* input held for the milter */

/*
 * Take over an accepted connection and send the greeting (after the PROXY
 * header on a proxy listener).  The checks keyed on the client's address
 * run first and may refuse it with a 421.  Returns 0 (the session owns
 * fd), or -1 when out of memory.
 */
int		 session_new(struct worker *, const struct listen_conf *,
		    int fd, const struct sockaddr *, socklen_t);
/* The worker is stopping: close idle sessions, others after their reply. */
void		 session_drain(struct session *);

const char	*session_state_name(enum session_state);

#endif
