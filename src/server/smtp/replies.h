/*
 * Every reply the smtp workers send, in one place (as qmail and nginx keep
 * theirs): what a client can be told is read here, not found by a search.
 * A %s after the code is the host name (conf->hostname).  The texts are
 * format strings for reply() and session_quit_now(), so the compiler
 * checks each use; tests/unit/test_replies.c checks them against the reply
 * table of DESIGN.md, and that no reply with a status code is typed
 * anywhere else in src/server/smtp/.
 */
#ifndef SMTPAUTHD_REPLIES_H
#define SMTPAUTHD_REPLIES_H

#include <inttypes.h>


/* The connection. */
#define R_GREETING	"220 %s ESMTP"
#define R_BANNED	"421 4.7.0 %s too many failed authentications, try " \
	    "later"
#define R_TOO_MANY_SESSIONS	"421 4.7.0 %s Error: too many sessions, try " \
	    "later"
#define R_TOO_MANY_PER_IP	"421 4.7.0 %s Error: too many connections from " \
	    "your address"
#define R_SHUTDOWN	"421 4.3.2 %s Service shutting down"
#define R_NO_FDS	"421 4.3.2 %s service not available, try later"
#define R_TIMEOUT	"421 4.4.2 %s Error: timeout exceeded"
#define R_TOO_MANY_ERRORS	"421 4.7.0 %s Error: too many errors"
#define R_BAD_BDAT_CLOSE	"421 4.7.0 %s Error: cannot recover from bad " \
	    "BDAT"
#define R_TOO_MANY_AUTH_FAILS	"421 4.7.0 %s Error: too many failed " \
	    "authentications"
#define R_HTTP_REQUEST	"421 4.7.0 %s Error: this is an SMTP server"
#define R_QUIT	"221 2.0.0 %s closing connection"

/* Commands in general. */
#define R_DONE	"250 2.0.0 Ok"
#define R_EMPTY_COMMAND	"500 5.5.2 Error: empty command"
#define R_UNKNOWN_COMMAND	"500 5.5.1 Unknown command"
#define R_LINE_TOO_LONG	"500 5.5.6 Line too long"
#define R_NO_PARAMETERS	"501 5.5.4 Syntax error, no parameters allowed"
#define R_HELP	"214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA BDAT " \
	    "RSET NOOP QUIT VRFY HELP"
#define R_VRFY	"252 2.5.0 Cannot VRFY user, but will accept " \
	    "message and attempt delivery"
#define R_VRFY_SYNTAX	"501 5.5.4 Syntax: VRFY address"
#define R_EXPN	"502 5.5.1 EXPN not available"

/* HELO and EHLO (the capability lines follow HELLO in place). */
#define R_HELLO	"250-%s Hello %s [%s]"
#define R_HELLO_LITERAL	"250-%s Hello [%s]"
#define R_EHLO_SYNTAX	"501 5.5.4 Syntax: EHLO hostname"
#define R_HELO_SYNTAX	"501 5.5.4 Syntax: HELO hostname"
#define R_BAD_HOSTNAME	"501 5.5.4 Invalid hostname"
#define R_NEED_HELO	"503 5.5.1 Error: send HELO/EHLO first"
#define R_NEED_EHLO	"503 5.5.1 Error: send EHLO first"

/* STARTTLS (RFC 3207). */
#define R_STARTTLS_GO	"220 2.0.0 Ready to start TLS"
#define R_TLS_ACTIVE	"503 5.5.1 TLS already active"
#define R_NO_STARTTLS	"502 5.5.1 STARTTLS not available"
#define R_STARTTLS_SYNTAX	"501 5.5.4 Syntax: STARTTLS"

/* AUTH (RFC 4954). */
#define R_AUTH_OK	"235 2.7.0 Authentication successful"
#define R_AUTH_FAILED	"535 5.7.8 Authentication credentials invalid"
#define R_AUTH_TEMPFAIL	"454 4.7.0 Temporary authentication failure"
#define R_AUTH_NEEDS_TLS	"538 5.7.11 Encryption required for requested " \
	    "authentication mechanism"
#define R_NO_AUTH	"502 5.5.1 AUTH not available"
#define R_AUTH_TWICE	"503 5.5.1 Error: already authenticated"
#define R_AUTH_IN_MAIL	"503 5.5.1 Error: AUTH not allowed during a mail " \
	    "transaction"
#define R_AUTH_MECH_UNKNOWN	"504 5.5.4 Unrecognized authentication type"
#define R_AUTH_LINE_TOO_LONG	"500 5.5.6 Authentication exchange line is too " \
	    "long"
#define R_AUTH_CANCELLED	"501 5.7.0 Authentication cancelled"
#define R_AUTH_BAD_BASE64	"501 5.5.2 Cannot decode response"

/* MAIL and RCPT, and the relay policy. */
#define R_MAIL_OK	"250 2.1.0 Ok"
#define R_RCPT_OK	"250 2.1.5 Ok"
#define R_NESTED_MAIL	"503 5.5.1 Error: nested MAIL command"
#define R_NEED_MAIL	"503 5.5.1 Error: need MAIL command"
#define R_RCPT_AFTER_BDAT	"503 5.5.1 Error: RCPT after BDAT"
#define R_TOO_MANY_RCPTS	"452 4.5.3 Error: too many recipients"
#define R_NO_MEMORY	"452 4.3.0 Error: out of memory"
#define R_AUTH_REQUIRED	"530 5.7.0 Authentication required"
#define R_SENDER_NOT_OWNED	"553 5.7.1 Sender address not owned by user"
#define R_RCPT_UNKNOWN	"550 5.1.1 Recipient unknown"
#define R_RCPT_TEMPFAIL	"451 4.3.0 Temporary lookup failure"
#define R_RELAY_DENIED	"550 5.7.1 Relay access denied"
#define R_MAIL_SYNTAX	"501 5.5.4 Syntax: MAIL FROM:<address>"
#define R_RCPT_SYNTAX	"501 5.5.4 Syntax: RCPT TO:<address>"
#define R_BAD_SENDER	"501 5.1.7 Bad sender address syntax"
#define R_BAD_RCPT	"501 5.1.3 Bad recipient address syntax"
#define R_NEED_SMTPUTF8	"553 5.6.7 Non-ASCII address requires SMTPUTF8"
#define R_PARAM_SYNTAX	"501 5.5.4 Syntax error in parameters"
#define R_PARAM_UNKNOWN	"555 5.5.4 Unsupported parameter"
#define R_PARAM_DUP	"501 5.5.4 Duplicate parameter"
#define R_BAD_SIZE	"501 5.5.4 Bad SIZE parameter"
#define R_BAD_BODY	"501 5.5.4 Bad BODY parameter"
#define R_BAD_SMTPUTF8	"501 5.5.4 Bad SMTPUTF8 parameter"
#define R_BAD_AUTH_PARAM	"501 5.5.4 Bad AUTH parameter"

/* DATA and BDAT. */
#define R_DATA_GO	"354 End data with <CR><LF>.<CR><LF>"
#define R_DATA_SYNTAX	"501 5.5.4 Syntax: DATA"
#define R_BDAT_SYNTAX	"501 5.5.4 Syntax: BDAT size [LAST]"
#define R_BDAT_OK	"250 2.0.0 Ok: %" PRIu64 " octets received"
#define R_DATA_AFTER_BDAT	"503 5.5.1 Error: DATA after BDAT"
#define R_NEED_RCPT	"503 5.5.1 Error: need RCPT command"
#define R_NO_RCPTS	"554 5.5.1 Error: no valid recipients"
#define R_BARE_LF	"554 5.6.0 Bare LF not allowed"
#define R_BARE_CR	"554 5.6.0 Bare CR not allowed"
#define R_TOO_BIG	"552 5.3.4 Message size exceeds limit"
#define R_QUEUED	"250 2.0.0 Ok: queued as %s"
#define R_SEND_LIMIT	"451 4.7.1 Sending limit of this account reached, " \
			"try again in %u seconds"
#define R_SEND_LIMIT_UNKNOWN "451 4.3.0 Sending limit cannot be checked, " \
			"try again later"
#define R_QUEUE_ERROR	"451 4.3.0 Error: queue file write error"
#define R_NO_STORAGE	"452 4.3.1 Insufficient system storage"
/* The milter's verdicts, when it gives no text of its own. */
#define R_MILTER_REJECT	"550 5.7.1 Command rejected"
#define R_MILTER_TEMPFAIL "451 4.7.1 Service unavailable - try again later"
#define R_MILTER_DOWN	"451 4.3.5 Content filter unavailable, try again later"

#endif
