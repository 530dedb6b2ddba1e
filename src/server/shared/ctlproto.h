/*
 * smtpauthctl(8) and the queue process, over the control socket (a unix
 * stream socket the parent binds: control-socket, only root, the
 * server's user and control-group may connect).  The command line sends
 * one request line:
 *
 *	[json ]COMMAND[ ARGUMENT]\n
 *
 * at most CTL_LINE_MAX octets; the server answers "ok\n" or "error\n",
 * then the text (or the JSON document) to show, and closes.
 */
#ifndef SMTPAUTHD_CTLPROTO_H
#define SMTPAUTHD_CTLPROTO_H

#define CTL_LINE_MAX		256
#define CTL_REPLY_MAX		(64 * 1024 * 1024)
#define CTL_TIMEOUT_SECONDS	30
/* smtpauthctl show: at most this much of the message. */
#define CTL_SHOW_MAX		(1024 * 1024)

#endif
