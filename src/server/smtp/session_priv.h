/*
 * What the pieces of one SMTP session share, and nothing else sees: the
 * session itself (session.c: its life, I/O, TLS, PROXY and line framing),
 * the command table (session_cmd.c), the transaction (session_txn.c) and
 * SASL (session_auth.c).  Each piece calls the others only through the
 * functions below; none includes another's file.
 */
#ifndef SMTPAUTHD_SESSION_PRIV_H
#define SMTPAUTHD_SESSION_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "server/shared/authproto.h"
#include "server/smtp/cmdparse.h"
#include "server/smtp/policy.h"
#include "server/smtp/session.h"

/* What a command's check parsed, for its proceed. */
struct checked {
	struct mail_args	 mail;		/* MAIL */
	char			 canon[ADDR_PATH_MAX + 1];	/* RCPT */
	enum policy_verdict	 verdict;
	uint64_t		 bdat_size;	/* BDAT */
	int			 bdat_last;
	int			 bdat_ok;	/* the size could be read */
	int			 mech;		/* AUTH: enum auth_mech */
	const char		*mechname;	/* AUTH_MECH_SASL */
	const char		*ir;		/* initial response, or NULL */
	size_t			 irlen;
};

/*
 * session.c: every state change, every reply and every close goes through
 * these, so that the pieces agree on what a session is doing.
 */
void		 session_set_state(struct session *, enum session_state);
void		 session_reply(struct session *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 session_reject(struct session *, const struct smtp_command *,
		    const char *);
void		 session_arm_timer(struct session *);
void		 session_quit_now(struct session *, const char *,
		    const char *);
void		 session_close(struct session *, const char *);
void		 session_process(struct session *);
void		 session_settle(struct session *);

/* session_cmd.c: one command line, through the command table. */
void		 session_line(struct session *, char *, size_t);

/*
 * session_txn.c: the transaction, its verbs (rows of the command table),
 * the message octets of DATA and BDAT, and the spool commit.
 */
void		 txn_reset(struct session *);
void		 session_data_input(struct session *);
void		 session_bdat_input(struct session *);
void		 session_skip_input(struct session *);
const char	*txn_check_mail(const struct session *,
		    const struct smtp_command *, struct checked *);
void		 txn_proceed_mail(struct session *,
		    const struct smtp_command *, const struct checked *);
const char	*txn_check_rcpt(const struct session *,
		    const struct smtp_command *, struct checked *);
void		 txn_proceed_rcpt(struct session *,
		    const struct smtp_command *, const struct checked *);
const char	*txn_check_data(const struct session *,
		    const struct smtp_command *, struct checked *);
void		 txn_proceed_data(struct session *,
		    const struct smtp_command *, const struct checked *);
const char	*txn_check_bdat(const struct session *,
		    const struct smtp_command *, struct checked *);
void		 txn_proceed_bdat(struct session *,
		    const struct smtp_command *, const struct checked *);

/*
 * session_txn.c, for the milter: commit the finished message (and answer
 * when done), or end the transaction once its reply is given.
 */
void		 txn_commit(struct session *);
void		 txn_end(struct session *);

/* session_cmd.c: a command the milter held goes on (why NULL) or not. */
void		 session_cmd_resume(struct session *, int row,
		    const struct smtp_command *, const struct checked *,
		    const char *why);

/*
 * session_milter.c: the session's milter.  milter_command() returns 1 when
 * it holds the command (session_cmd_resume() follows), else 0 with *why
 * the refusal or NULL.  milter_eom() returns 1 when it has the message
 * (txn_commit() or txn_end() follows).  milter_rewrite() runs on the
 * commit's thread when milter_changes().
 */
void		 milter_start(struct session *);
void		 milter_free(struct session *);
int		 milter_command(struct session *, int row,
		    const struct smtp_command *, const struct checked *,
		    const char **why);
void		 milter_octets(struct session *, const char *, size_t);
int		 milter_eom(struct session *);
void		 milter_abort(struct session *);
int		 milter_changes(const struct session *);
int		 milter_rewrite(struct session *);

/*
 * session_limit.c: the account's sending limits.  Returns 0 when none
 * applies (go on now), 1 when the auth process is asked: done is called
 * later with 1 (go on) or 0 (refused; the 451 is sent).
 */
typedef void	(*session_limit_done)(struct session *, int allowed);
int		 session_limit_ask(struct session *, enum limit_kind,
		    session_limit_done);

/*
 * session_rcpt.c: ask the auth process whether a recipient of
 * local-domains is an account of the store (POLICY_LOOKUP).  done is
 * called later with the address when it is one; otherwise the reply
 * (550 5.1.1, or 451 4.3.0 when the store cannot say) is sent and done
 * is not called.
 */
typedef void	(*session_rcpt_done)(struct session *, const char *addr);
void		 session_rcpt_ask(struct session *, const char *addr,
		    session_rcpt_done);

/* session_auth.c: AUTH and the SASL exchange (RFC 4954). */
int		 session_may_auth(const struct session *);
const char	*auth_ehlo_mechs(const struct session *);
int		 session_in_sasl(const struct session *);
void		 session_sasl_line(struct session *, char *, size_t);
void		 auth_finish(struct session *, const char *);
const char	*auth_check(const struct session *,
		    const struct smtp_command *, struct checked *);
void		 auth_proceed(struct session *,
		    const struct smtp_command *, const struct checked *);

#endif
