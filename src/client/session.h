/*
 * smtpauth session: an interactive SMTP client that sends what is typed
 * as it is, and does the fiddly parts (TLS, AUTH) on request without ever
 * showing a secret.
 */
#ifndef SMTPAUTH_SESSION_H
#define SMTPAUTH_SESSION_H

int	cmd_session(int, char **);

#endif
