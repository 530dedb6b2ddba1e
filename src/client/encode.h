/*
 * smtpauth encode, decode and hash: SASL strings and password hashes made
 * without a shell or perl in the way.
 */
#ifndef SMTPAUTH_ENCODE_H
#define SMTPAUTH_ENCODE_H

int	cmd_encode(int, char **);
int	cmd_decode(int, char **);
int	cmd_hash(int, char **);

#endif
