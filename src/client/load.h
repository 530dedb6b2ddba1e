/*
 * smtpauth load: an event-driven load generator (Postfix's smtp-source,
 * with TLS and AUTH), and idle sessions for memory measurements.
 */
#ifndef SMTPAUTH_LOAD_H
#define SMTPAUTH_LOAD_H

int	cmd_load(int, char **);

#endif
