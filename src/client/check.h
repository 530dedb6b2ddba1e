/*
 * smtpauth check: the go-live checklist of the seed, positive and
 * negative tests, against any server.
 */
#ifndef SMTPAUTH_CHECK_H
#define SMTPAUTH_CHECK_H

int	cmd_check(int, char **);

#endif
