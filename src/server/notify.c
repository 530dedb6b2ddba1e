/*
 * systemd's notification protocol through libsystemd.  sd_notify() itself
 * returns 0 without a NOTIFY_SOCKET; a failure to send is logged and the
 * server goes on: a notification is never worth stopping the mail for.
 */
#include <stdio.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "common/clock.h"
#include "common/log.h"
#include "server/notify.h"

static void	send_state(const char *);

static void
send_state(const char *state)
{
	int	r;

	/* The log names the first field only: a line has no newline. */
	if ((r = sd_notify(0, state)) < 0)
		log_warnx("sd_notify %.*s: %s", (int)strcspn(state, "\n"),
		    state, strerror(-r));
}

void
notify_ready(void)
{
	send_state("READY=1");
}

void
notify_reloading(void)
{
	char	buf[64];
	int	n;

	/* MONOTONIC_USEC lets systemd 253 and later (Type=notify-reload)
	 * match this reload with the signal that asked for it. */
	n = snprintf(buf, sizeof(buf), "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)mono_usec());
	if (n < 0 || (size_t)n >= sizeof(buf))
		send_state("RELOADING=1");
	else
		send_state(buf);
}

void
notify_stopping(void)
{
	send_state("STOPPING=1");
}
