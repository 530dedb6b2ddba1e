/*
 * The service manager's notifications (sd_notify(3)): readiness, reload
 * and stop, sent by the parent only.  Each is a no-op when the server
 * was not started by systemd (NOTIFY_SOCKET unset).
 */
#ifndef SMTPAUTHD_NOTIFY_H
#define SMTPAUTHD_NOTIFY_H

/* The listeners are bound and the children started: READY=1. */
void	notify_ready(void);

/* A SIGHUP reload starts: RELOADING=1 (notify_ready() ends it). */
void	notify_reloading(void);

/* SIGTERM or SIGINT: the children are being stopped, STOPPING=1. */
void	notify_stopping(void);

#endif
