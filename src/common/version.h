/*
 * The version of smtpauth, both programs: the one place it is written.
 */
#ifndef SMTPAUTH_VERSION_H
#define SMTPAUTH_VERSION_H

#define SMTPAUTH_VERSION	"0.11.0"

#endif
