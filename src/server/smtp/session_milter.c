/*
 * The session's milter (smtpauthd.conf(5), "Milters"): one connection a
 * session, non-blocking on the worker's loop.  Commands are sent one at a
 * time and each reply is waited for (as Postfix does); a command the
 * session must wait for holds its input (SF_MILTER) until the milter has
 * answered everything queued, or failed.  A failure (connect, timeout,
 * EOF, a packet that breaks the protocol) closes the connection and the
 * default action decides: tempfail or go on without the milter.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "common/log.h"
#include "server/shared/config.h"
#include "server/smtp/milter.h"
#include "server/smtp/replies.h"
#include "server/smtp/session_priv.h"
#include "server/smtp/worker.h"

#define QUEUE_FULL	(256 * 1024)	/* pause the client above this */
#define HDRS_REWRITE_MAX (16 * 1024 * 1024)

enum mstate { M_CONNECTING, M_OPTNEG, M_READY, M_DEAD };

/* What a command or message got. */
enum mverdict { MV_CONTINUE, MV_ACCEPT, MV_REJECT, MV_DISCARD, MV_FAIL };

struct field_ref {
	uint64_t	off;
	size_t		len;
};

/* A header change of the end of message, applied to the spool file. */
struct mod {
	char		 type;		/* 'h', 'i', 'm', 'q' */
	uint32_t	 index;
	char		*name;
	char		*text;		/* "Name: value\r\n"; NULL: delete */
	size_t		 textlen;
};

struct milter {
	struct session			*s;
	const struct milter_conf	*mc;
	int				 fd;
	enum mstate			 state;
	struct event			*ev_read, *ev_write, *ev_timer;
	struct evbuffer			*in, *out, *queue;
	uint32_t			 actions, proto;
	int				 waiting;	/* for a reply to waitcmd */
	char				 waitcmd;
	int				 holding;
	void				(*hold_fn)(struct milter *);
	int				 in_msg;	/* MAIL sent, no EOM yet */
	int				 bypass;	/* accepted: session */
	int				 msg_bypass;	/* accepted: message */
	int				 skip_body;

	/* The verdict of the last held command, and the message's. */
	enum mverdict			 verdict;
	char				 reply[MILTER_REPLY_MAX + 1];
	enum mverdict			 conn_verdict;
	char				 conn_reply[MILTER_REPLY_MAX + 1];
	enum mverdict			 msg_verdict;
	char				 msg_reply[MILTER_REPLY_MAX + 1];

	/* The held command. */
	int				 row;
	struct smtp_command		 cmd;
	char				 args[SMTP_LINE_MAX + 1];
	struct checked			 ck;

	/* The message. */
	struct milter_hdrscan		 hs;
	struct evbuffer			*chunk;		/* body to send */
	int				 eoh_sent;
	struct field_ref		*fields;
	size_t				 nfields;
	struct mod			*mods;
	size_t				 nmods;
	struct evbuffer			*newbody;	/* 'b' */
	int				 replbody;
	uint64_t			 msg_base;	/* message start in file */
};

static void	m_fail(struct milter *, const char *);
static void	m_pump(struct milter *);
static void	m_read(int, short, void *);
static void	m_write(int, short, void *);
static void	m_timeout(int, short, void *);
static void	m_packet(struct milter *, const struct milter_pkt *);
static void	m_send(struct milter *, char, const void *, size_t);
static void	m_macros(struct milter *, char, const char *const *, size_t);
static void	m_hold(struct milter *, void (*)(struct milter *));
static void	m_check_hold(struct milter *);
static void	m_resume(struct milter *);
static void	m_arm(struct milter *, unsigned);
static int	m_active(const struct session *);
static void	m_reset_msg(struct milter *);
static void	cmd_done(struct milter *);
static void	eom_done(struct milter *);
static int	m_default_accept(const struct milter *);

static int
m_default_accept(const struct milter *m)
{
	if (m->mc->default_accept != -1)
		return m->mc->default_accept;
	return m->s->w->conf->milter_default_accept;
}

/* Is the milter taking part (now or for this message)? */
static int
m_active(const struct session *s)
{
	const struct milter	*m = s->milter;

	if (m == NULL || m->bypass)
		return 0;
	if (m->state == M_DEAD && m_default_accept(m))
		return 0;
	return 1;
}

static void
m_arm(struct milter *m, unsigned secs)
{
	struct timeval	tv = { (time_t)secs, 0 };

	evtimer_add(m->ev_timer, &tv);
}

/*
 * The session starts: connect (non-blocking), OPTNEG, then the macros and
 * CONNECT, all queued; nobody waits for them until HELO.
 */
void
milter_start(struct session *s)
{
	const struct milter_conf	*mc;
	struct milter			*m;
	struct sockaddr_storage		 ss;
	socklen_t			 sslen = sizeof(ss);
	uint8_t				 opt[12];
	char				 buf[600], port[8], ifaddr[64] = "";
	const char			*mac[16];
	size_t				 n = 0, len;

	if ((mc = config_milter(s->w->conf, s->lc)) == NULL)
		return;
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		log_warn("session=%s milter", s->id);
		return;
	}
	s->milter = m;
	m->s = s;
	m->mc = mc;
	m->fd = -1;
	m->state = M_DEAD;
	milter_hdrscan_init(&m->hs);
	m->in = evbuffer_new();
	m->out = evbuffer_new();
	m->queue = evbuffer_new();
	m->chunk = evbuffer_new();
	m->newbody = evbuffer_new();
	m->ev_timer = evtimer_new(s->w->base, m_timeout, m);
	if (m->in == NULL || m->out == NULL || m->queue == NULL ||
	    m->chunk == NULL || m->newbody == NULL || m->ev_timer == NULL) {
		m_fail(m, "out-of-memory");
		return;
	}
	m->fd = socket(mc->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (m->fd == -1) {
		m_fail(m, "socket");
		return;
	}
	m->ev_read = event_new(s->w->base, m->fd, EV_READ | EV_PERSIST,
	    m_read, m);
	m->ev_write = event_new(s->w->base, m->fd, EV_WRITE, m_write, m);
	if (m->ev_read == NULL || m->ev_write == NULL) {
		m_fail(m, "out-of-memory");
		return;
	}
	event_priority_set(m->ev_read, WORKER_PRI_SESSION);
	event_priority_set(m->ev_write, WORKER_PRI_SESSION);
	if (connect(m->fd, (const struct sockaddr *)&mc->addr,
	    mc->addrlen) == -1 && errno != EINPROGRESS) {
		m_fail(m, "connect");
		return;
	}
	m->state = M_CONNECTING;
	event_add(m->ev_write, NULL);
	m_arm(m, mc->connect_timeout);

	/* OPTNEG goes first, by itself: m_pump sends it once connected. */
	milter_optneg_make(opt, MILTER_VERSION, MILTER_ACTIONS,
	    MILTER_PROTOCOL);
	m_send(m, SMFIC_OPTNEG, opt, sizeof(opt));

	if (getsockname(s->fd, (struct sockaddr *)&ss, &sslen) == 0) {
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->
			    sin_addr, ifaddr, sizeof(ifaddr));
		else if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->
			    sin6_addr, ifaddr, sizeof(ifaddr));
	}
	snprintf(port, sizeof(port), "%u", s->peerport);
	mac[n++] = "j";
	mac[n++] = s->w->conf->hostname;
	mac[n++] = "{daemon_name}";
	mac[n++] = "smtpauthd";
	mac[n++] = "{client_addr}";
	mac[n++] = s->peerip;
	mac[n++] = "{client_port}";
	mac[n++] = port;
	mac[n++] = "{client_name}";
	mac[n++] = "unknown";
	mac[n++] = "{if_addr}";
	mac[n++] = ifaddr;
	mac[n++] = "v";
	mac[n++] = "smtpauthd";
	m_macros(m, SMFIC_CONNECT, mac, n);

	/* CONNECT: name, family, port, address. */
	len = (size_t)snprintf(buf, sizeof(buf), "[%s]", s->peerip) + 1;
	buf[len++] = strchr(s->peerip, ':') != NULL ? '6' : '4';
	buf[len++] = (char)(s->peerport >> 8);
	buf[len++] = (char)(s->peerport & 0xff);
	len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s",
	    s->peerip) + 1;
	m_send(m, SMFIC_CONNECT, buf, len);
	m_pump(m);
}

void
milter_free(struct session *s)
{
	struct milter	*m = s->milter;

	if (m == NULL)
		return;
	if (m->fd != -1 && m->state == M_READY) {
		uint8_t	head[5];

		milter_pkt_head(head, SMFIC_QUIT, 0);
		(void)send(m->fd, head, 5, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	m_reset_msg(m);
	if (m->ev_read)
		event_free(m->ev_read);
	if (m->ev_write)
		event_free(m->ev_write);
	if (m->ev_timer)
		event_free(m->ev_timer);
	if (m->fd != -1)
		close(m->fd);
	if (m->in)
		evbuffer_free(m->in);
	if (m->out)
		evbuffer_free(m->out);
	if (m->queue)
		evbuffer_free(m->queue);
	if (m->chunk)
		evbuffer_free(m->chunk);
	if (m->newbody)
		evbuffer_free(m->newbody);
	free(m);
	s->milter = NULL;
}

/* The milter is gone: the default action from here on. */
static void
m_fail(struct milter *m, const char *why)
{
	struct session	*s = m->s;

	if (m->state != M_DEAD || m->fd != -1)
		log_info("session=%s milter=%s failed reason=%s action=%s",
		    s->id, m->mc->text, why, m_default_accept(m) ?
		    "accept" : "tempfail");
	m->state = M_DEAD;
	if (m->ev_read)
		event_del(m->ev_read);
	if (m->ev_write)
		event_del(m->ev_write);
	if (m->ev_timer)
		evtimer_del(m->ev_timer);
	if (m->fd != -1) {
		close(m->fd);
		m->fd = -1;
	}
	m->waiting = 0;
	if (m->queue)
		evbuffer_drain(m->queue, evbuffer_get_length(m->queue));
	if (m->out)
		evbuffer_drain(m->out, evbuffer_get_length(m->out));
	m->verdict = MV_FAIL;
	m_check_hold(m);
}

/* Queue one packet. */
static void
m_send(struct milter *m, char cmd, const void *data, size_t len)
{
	uint8_t	head[5];

	if (m->state == M_DEAD)
		return;
	milter_pkt_head(head, cmd, len);
	if (evbuffer_add(m->queue, head, 5) == -1 ||
	    evbuffer_add(m->queue, data, len) == -1)
		m_fail(m, "out-of-memory");
}

/* SMFIC_MACRO for the command that follows: name, value pairs. */
static void
m_macros(struct milter *m, char stage, const char *const *kv, size_t n)
{
	char	buf[4096];
	size_t	len = 0, a, b, i;

	buf[len++] = stage;
	for (i = 0; i + 1 < n; i += 2) {
		a = strlen(kv[i]);
		b = strlen(kv[i + 1]);
		if (len + a + b + 2 > sizeof(buf))
			break;
		memcpy(buf + len, kv[i], a + 1);
		len += a + 1;
		memcpy(buf + len, kv[i + 1], b + 1);
		len += b + 1;
	}
	m_send(m, SMFIC_MACRO, buf, len);
}

/* Does a command get a reply, given the protocol steps agreed? */
static int
m_expects_reply(const struct milter *m, char cmd)
{
	switch (cmd) {
	case SMFIC_OPTNEG:
	case SMFIC_BODYEOB:
		return 1;
	case SMFIC_CONNECT:
		return !(m->proto & SMFIP_NR_CONN);
	case SMFIC_HELO:
		return !(m->proto & SMFIP_NR_HELO);
	case SMFIC_MAIL:
		return !(m->proto & SMFIP_NR_MAIL);
	case SMFIC_RCPT:
		return !(m->proto & SMFIP_NR_RCPT);
	case SMFIC_DATA:
		return !(m->proto & SMFIP_NR_DATA);
	case SMFIC_HEADER:
		return !(m->proto & SMFIP_NR_HDR);
	case SMFIC_EOH:
		return !(m->proto & SMFIP_NR_EOH);
	case SMFIC_BODY:
		return !(m->proto & SMFIP_NR_BODY);
	default:
		return 0;
	}
}

/* Is a step left out by the milter's choice (SMFIP_NO*)? */
static int
m_step_off(const struct milter *m, char cmd)
{
	static const struct { char cmd; uint32_t bit; } steps[] = {
		{ SMFIC_CONNECT, SMFIP_NOCONNECT }, { SMFIC_HELO, SMFIP_NOHELO },
		{ SMFIC_MAIL, SMFIP_NOMAIL }, { SMFIC_RCPT, SMFIP_NORCPT },
		{ SMFIC_DATA, SMFIP_NODATA }, { SMFIC_HEADER, SMFIP_NOHDRS },
		{ SMFIC_EOH, SMFIP_NOEOH }, { SMFIC_BODY, SMFIP_NOBODY },
	};
	size_t	i;

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if (steps[i].cmd == cmd)
			return (m->proto & steps[i].bit) != 0;
	return 0;
}

/*
 * Move queued packets to the socket: all those that get no reply, up to
 * and including the next that does, then wait for it.
 */
static void
m_pump(struct milter *m)
{
	uint8_t		head[5], *p;
	uint32_t	n;
	char		cmd, next = 0;

	while (m->state != M_DEAD && m->state != M_CONNECTING &&
	    !m->waiting && evbuffer_get_length(m->queue) >= 5) {
		evbuffer_copyout(m->queue, head, 5);
		n = (uint32_t)head[0] << 24 | (uint32_t)head[1] << 16 |
		    (uint32_t)head[2] << 8 | head[3];
		cmd = (char)head[4];
		if (m->state == M_OPTNEG && cmd != SMFIC_OPTNEG)
			break;
		/* A macro goes, or not, with the step it is for. */
		if (cmd == SMFIC_MACRO && evbuffer_get_length(m->queue) > 5) {
			p = evbuffer_pullup(m->queue, 6);
			next = (char)p[5];
		}
		if ((cmd == SMFIC_MACRO && m_step_off(m, next)) ||
		    m_step_off(m, cmd)) {
			evbuffer_drain(m->queue, 4 + (size_t)n);
			continue;
		}
		evbuffer_remove_buffer(m->queue, m->out, 4 + (size_t)n);
		if (m_expects_reply(m, cmd)) {
			m->waiting = 1;
			m->waitcmd = cmd;
			m_arm(m, cmd == SMFIC_BODYEOB ? m->mc->eom_timeout :
			    m->mc->command_timeout);
		}
	}
	if (evbuffer_get_length(m->out) > 0 && m->state != M_CONNECTING &&
	    m->state != M_DEAD)
		m_write(m->fd, EV_WRITE, m);
	m_check_hold(m);
}

/* Flow control of the message: resume a client paused for the milter. */
static void
m_resume(struct milter *m)
{
	struct session	*s = m->s;

	if ((s->flags & SF_MILTER) && !m->holding &&
	    (m->state == M_DEAD ||
	    evbuffer_get_length(m->queue) < QUEUE_FULL / 2)) {
		s->flags &= ~SF_MILTER;
		if (!(s->flags & SF_DEAD))
			session_process(s);
	}
}

static void
m_write(int fd, short ev, void *arg)
{
	struct milter	*m = arg;
	int		 err = 0;
	socklen_t	 len = sizeof(err);
	int		 n;

	if (m->state == M_CONNECTING) {
		if (getsockopt(m->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 ||
		    err != 0) {
			errno = err;
			m_fail(m, "connect");
			m_resume(m);
			session_settle(m->s);
			return;
		}
		m->state = M_OPTNEG;
		evtimer_del(m->ev_timer);
		event_add(m->ev_read, NULL);
		m_pump(m);
		session_settle(m->s);
		return;
	}
	while (evbuffer_get_length(m->out) > 0) {
		n = evbuffer_write(m->out, m->fd);
		if (n > 0)
			continue;
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			event_add(m->ev_write, NULL);
			return;
		}
		m_fail(m, "write");
		return;
	}
}

static void
m_timeout(int fd, short ev, void *arg)
{
	struct milter	*m = arg;

	m_fail(m, m->state == M_CONNECTING ? "connect-timeout" : "timeout");
	m_resume(m);
	session_settle(m->s);
}

static void
m_read(int fd, short ev, void *arg)
{
	struct milter		*m = arg;
	struct session		*s = m->s;
	struct milter_pkt	 pkt;
	size_t			 used, len;
	uint8_t			*buf;
	int			 n, r;

	n = evbuffer_read(m->in, m->fd, 65536);
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
		m_fail(m, n == 0 ? "eof" : "read");
		m_resume(m);
		session_settle(s);
		return;
	}
	while (m->state != M_DEAD && (len = evbuffer_get_length(m->in)) > 0) {
		buf = evbuffer_pullup(m->in, len < MILTER_PKT_MAX + 4 ?
		    (ssize_t)len : MILTER_PKT_MAX + 4);
		r = milter_pkt_take(buf, len < MILTER_PKT_MAX + 4 ? len :
		    MILTER_PKT_MAX + 4, &pkt, &used);
		if (r == -1) {
			m_fail(m, "bad-packet-length");
			break;
		}
		if (r == 0)
			break;
		if (!m->waiting) {
			m_fail(m, "unasked-reply");
			break;
		}
		m_packet(m, &pkt);
		evbuffer_drain(m->in, used);
	}
	if (m->state != M_DEAD)
		m_pump(m);
	m_resume(m);
	session_settle(s);
}

/* A verdict of r, t or y: the reply the client gets. */
static int
m_refusal(struct milter *m, const struct milter_pkt *pkt, char *out)
{
	if (pkt->cmd == SMFIR_REJECT)
		snprintf(out, MILTER_REPLY_MAX + 1, "%s", R_MILTER_REJECT);
	else if (pkt->cmd == SMFIR_TEMPFAIL)
		snprintf(out, MILTER_REPLY_MAX + 1, "%s", R_MILTER_TEMPFAIL);
	else if (milter_reply_parse(pkt->data, pkt->len, out,
	    MILTER_REPLY_MAX + 1) == -1)
		return -1;
	return 0;
}

/* A header change of the end of message. */
static int
m_mod(struct milter *m, const struct milter_pkt *pkt)
{
	struct milter_hdr	 h;
	struct mod		*nm, md;
	int			 n;

	memset(&md, 0, sizeof(md));
	md.type = pkt->cmd;
	switch (pkt->cmd) {
	case SMFIR_ADDHEADER:
	case SMFIR_INSHEADER:
	case SMFIR_CHGHEADER:
		if (!(m->actions & (pkt->cmd == SMFIR_CHGHEADER ?
		    SMFIF_CHGHDRS : SMFIF_ADDHDRS)))
			return -1;
		if (milter_hdr_parse(pkt, pkt->cmd != SMFIR_ADDHEADER,
		    &h) == -1)
			return -1;
		md.index = h.index;
		if ((md.name = strndup(h.name, h.namelen)) == NULL)
			return -1;
		if (pkt->cmd != SMFIR_CHGHEADER || h.valuelen > 0) {
			size_t cap = h.namelen + 3 + h.valuelen * 2 + 2;

			if ((md.text = malloc(cap)) == NULL) {
				free(md.name);
				return -1;
			}
			memcpy(md.text, h.name, h.namelen);
			md.textlen = h.namelen;
			md.text[md.textlen++] = ':';
			if (!(m->proto & SMFIP_HDR_LEADSPC))
				md.text[md.textlen++] = ' ';
			n = milter_value_to_crlf(h.value, h.valuelen,
			    md.text + md.textlen, cap - md.textlen - 2);
			if (n == -1) {
				free(md.name);
				free(md.text);
				return -1;
			}
			md.textlen += (size_t)n;
			md.text[md.textlen++] = '\r';
			md.text[md.textlen++] = '\n';
		}
		break;
	case SMFIR_QUARANTINE:
		if (!(m->actions & SMFIF_QUARANTINE) ||
		    (n = milter_text_parse(pkt, 400)) == -1)
			return -1;
		md.textlen = (size_t)n + 17;
		if ((md.text = malloc(md.textlen + 1)) == NULL)
			return -1;
		snprintf(md.text, md.textlen + 1, "X-Quarantined: %s\r\n",
		    (const char *)pkt->data);
		log_info("session=%s milter=%s quarantine reason=\"%s\"",
		    m->s->id, m->mc->text, (const char *)pkt->data);
		break;
	default:
		return -1;
	}
	nm = reallocarray(m->mods, m->nmods + 1, sizeof(*nm));
	if (nm == NULL || m->nmods >= 1000) {
		if (nm != NULL)
			m->mods = nm;
		free(md.name);
		free(md.text);
		return -1;
	}
	m->mods = nm;
	m->mods[m->nmods++] = md;
	return 0;
}

/* One packet from the milter, in answer to m->waitcmd. */
static void
m_packet(struct milter *m, const struct milter_pkt *pkt)
{
	char		 reply[MILTER_REPLY_MAX + 1];
	enum mverdict	 v;
	char		 w = m->waitcmd;

	if (w == SMFIC_OPTNEG) {
		if (milter_optneg_parse(pkt, &m->actions, &m->proto) == -1) {
			m_fail(m, "bad-optneg");
			return;
		}
		m->waiting = 0;
		m->state = M_READY;
		evtimer_del(m->ev_timer);
		return;
	}
	switch (pkt->cmd) {
	case SMFIR_PROGRESS:
		m_arm(m, w == SMFIC_BODYEOB ? m->mc->eom_timeout :
		    m->mc->command_timeout);
		return;
	case SMFIR_ADDHEADER:
	case SMFIR_INSHEADER:
	case SMFIR_CHGHEADER:
	case SMFIR_QUARANTINE:
		if (w != SMFIC_BODYEOB || m_mod(m, pkt) == -1)
			m_fail(m, "bad-modification");
		return;
	case SMFIR_REPLBODY:
		if (w != SMFIC_BODYEOB || !(m->actions & SMFIF_CHGBODY) ||
		    evbuffer_get_length(m->newbody) + pkt->len >
		    m->s->w->conf->max_message_size ||
		    evbuffer_add(m->newbody, pkt->data, pkt->len) == -1) {
			m_fail(m, "bad-body");
			return;
		}
		m->replbody = 1;
		return;
	case SMFIR_SKIP:
		if (w != SMFIC_BODY) {
			m_fail(m, "bad-skip");
			return;
		}
		m->skip_body = 1;
		v = MV_CONTINUE;
		break;
	case SMFIR_CONTINUE:
		v = MV_CONTINUE;
		break;
	case SMFIR_ACCEPT:
		v = MV_ACCEPT;
		break;
	case SMFIR_DISCARD:
		v = MV_DISCARD;
		break;
	case SMFIR_REJECT:
	case SMFIR_TEMPFAIL:
	case SMFIR_REPLYCODE:
		if (m_refusal(m, pkt, reply) == -1) {
			m_fail(m, "bad-reply");
			return;
		}
		v = MV_REJECT;
		break;
	default:
		m_fail(m, "unknown-reply");
		return;
	}
	m->waiting = 0;
	evtimer_del(m->ev_timer);

	switch (w) {
	case SMFIC_CONNECT:
	case SMFIC_HELO:
		if (v == MV_ACCEPT || (w == SMFIC_CONNECT && v != MV_CONTINUE))
			m->bypass = 1;
		else if (v != MV_CONTINUE && m->conn_verdict == MV_CONTINUE) {
			m->conn_verdict = v;
			snprintf(m->conn_reply, sizeof(m->conn_reply), "%s",
			    reply);
		}
		m->verdict = v == MV_REJECT && w == SMFIC_HELO ?
		    MV_REJECT : MV_CONTINUE;
		if (m->verdict == MV_REJECT)
			snprintf(m->reply, sizeof(m->reply), "%s", reply);
		break;
	case SMFIC_MAIL:
	case SMFIC_RCPT:
		m->verdict = v;
		if (v == MV_REJECT)
			snprintf(m->reply, sizeof(m->reply), "%s", reply);
		else if (v == MV_ACCEPT)
			m->msg_bypass = 1;
		else if (v == MV_DISCARD)
			m->msg_verdict = MV_DISCARD;
		break;
	default:
		/* DATA, headers, body, EOM: the message's verdict. */
		if (v == MV_ACCEPT)
			m->msg_bypass = 1;
		else if (v != MV_CONTINUE && m->msg_verdict == MV_CONTINUE) {
			m->msg_verdict = v;
			snprintf(m->msg_reply, sizeof(m->msg_reply), "%s",
			    reply);
		}
		m->verdict = v;
		if (v == MV_REJECT)
			snprintf(m->reply, sizeof(m->reply), "%s", reply);
		break;
	}
	/* The rest of the message is not the milter's business now. */
	if (m->bypass)
		evbuffer_drain(m->queue, evbuffer_get_length(m->queue));
	if (v != MV_CONTINUE && w != SMFIC_CONNECT && w != SMFIC_HELO &&
	    !(w == SMFIC_RCPT && v == MV_REJECT) && w != SMFIC_BODYEOB)
		evbuffer_drain(m->queue, evbuffer_get_length(m->queue));
}

static void
m_hold(struct milter *m, void (*fn)(struct milter *))
{
	m->holding = 1;
	m->hold_fn = fn;
	m->verdict = MV_CONTINUE;
	m->s->flags |= SF_MILTER;
	m_pump(m);
}

/* Everything queued is answered (or the milter failed): go on. */
static void
m_check_hold(struct milter *m)
{
	if (!m->holding || (m->state != M_DEAD &&
	    (m->waiting || evbuffer_get_length(m->queue) > 0 ||
	    m->state != M_READY)))
		return;
	m->holding = 0;
	m->s->flags &= ~SF_MILTER;
	m->hold_fn(m);
}

/* The reply for a milter that failed, or NULL to go on without it. */
static const char *
m_down_reply(const struct milter *m)
{
	return m_default_accept(m) ? NULL : R_MILTER_DOWN;
}

static void
cmd_done(struct milter *m)
{
	struct session	*s = m->s;
	const char	*why = NULL;

	if (m->verdict == MV_FAIL && m->cmd.verb != VERB_HELO &&
	    m->cmd.verb != VERB_EHLO)
		why = m_down_reply(m);	/* HELO: MAIL gets it */
	else if (m->verdict == MV_REJECT)
		why = m->reply;
	else if (m->cmd.verb == VERB_HELO || m->cmd.verb == VERB_EHLO) {
		if (m->conn_verdict == MV_REJECT)
			why = m->conn_reply;
	}
	if (why != NULL && m->cmd.verb == VERB_MAIL)
		m->in_msg = 0;
	if (why != NULL)
		log_info("session=%s milter=%s reject cmd=%s reply=\"%.80s\"",
		    s->id, m->mc->text, cmdparse_verb_name(m->cmd.verb), why);
	session_cmd_resume(s, m->row, &m->cmd, &m->ck, why);
	if (!(s->flags & SF_DEAD))
		session_process(s);
	session_settle(s);
}

int
milter_command(struct session *s, int row, const struct smtp_command *cmd,
    const struct checked *ck, const char **why)
{
	struct milter	*m = s->milter;
	char		 buf[SMTP_LINE_MAX + ADDR_PATH_MAX + 8];
	const char	*mac[16] = { NULL }, *a, *end;
	size_t		 n = 0, len = 0;
	char		 stage;

	*why = NULL;
	if (m == NULL)
		return 0;
	switch (cmd->verb) {
	case VERB_HELO:
	case VERB_EHLO:
		stage = SMFIC_HELO;
		break;
	case VERB_MAIL:
		stage = SMFIC_MAIL;
		break;
	case VERB_RCPT:
		stage = SMFIC_RCPT;
		break;
	case VERB_DATA:
		stage = SMFIC_DATA;
		break;
	case VERB_BDAT:
		if (s->state != STATE_RCPT)
			return 0;
		stage = SMFIC_DATA;
		break;
	default:
		return 0;
	}
	/* Refused at connect: every command of the transaction too. */
	if (m->conn_verdict == MV_REJECT) {
		*why = m->conn_reply;
		return 0;
	}
	if (!m_active(s))
		return 0;
	if (m->state == M_DEAD) {
		if (stage != SMFIC_HELO)
			*why = m_down_reply(m);
		return 0;
	}
	if (stage != SMFIC_HELO && stage != SMFIC_MAIL && m->msg_bypass)
		return 0;

	if (stage == SMFIC_HELO) {
		char	ver[32] = "", cipher[64] = "", bits[8] = "";

		if (s->tls != NULL)
			sscanf(s->tls_info, "%31[^:]:%63[^:]:%7s", ver,
			    cipher, bits);
		mac[n++] = "{tls_version}";
		mac[n++] = ver;
		mac[n++] = "{cipher}";
		mac[n++] = cipher;
		mac[n++] = "{cipher_bits}";
		mac[n++] = bits;
		m_macros(m, stage, mac, n);
		for (len = 0; len < cmd->argslen && cmd->args[len] != ' ';
		    len++)
			buf[len] = cmd->args[len];
		buf[len++] = '\0';
	} else if (stage == SMFIC_MAIL) {
		char	from[ADDR_PATH_MAX + 1];

		m_reset_msg(m);
		m->msg_bypass = 0;
		m->msg_verdict = m->conn_verdict == MV_DISCARD ? MV_DISCARD :
		    MV_CONTINUE;
		if (addr_format(&ck->mail.from, from, sizeof(from)) == -1)
			from[0] = '\0';
		mac[n++] = "{auth_type}";
		mac[n++] = s->auth_user != NULL ? "PLAIN" : "";
		mac[n++] = "{auth_authen}";
		mac[n++] = s->auth_user != NULL ? s->auth_user : "";
		mac[n++] = "{mail_addr}";
		mac[n++] = from;
		m_macros(m, stage, mac, n);
		len = (size_t)snprintf(buf, sizeof(buf), "<%s>", from) + 1;
		/* The ESMTP parameters, one a string, as Postfix sends. */
		a = memchr(cmd->args, '>', cmd->argslen);
		end = cmd->args + cmd->argslen;
		for (a = a != NULL ? a + 1 : end; a < end; ) {
			while (a < end && *a == ' ')
				a++;
			while (a < end && *a != ' ' && len < sizeof(buf) - 1)
				buf[len++] = *a++;
			if (len > 0 && buf[len - 1] != '\0')
				buf[len++] = '\0';
		}
		m->in_msg = 1;
	} else if (stage == SMFIC_RCPT) {
		mac[n++] = "{rcpt_addr}";
		mac[n++] = ck->canon;
		m_macros(m, stage, mac, n);
		len = (size_t)snprintf(buf, sizeof(buf), "<%s>", ck->canon) +
		    1;
	} else {
		m_macros(m, stage, mac, 0);
		len = 0;
	}
	m_send(m, stage, buf, len);

	/* Keep the command: its line is gone when the milter answers. */
	m->row = row;
	m->cmd = *cmd;
	memcpy(m->args, cmd->args, cmd->argslen);
	m->args[cmd->argslen] = '\0';
	m->cmd.args = m->args;
	m->ck = *ck;
	m_hold(m, cmd_done);
	return 1;
}

/* The message ends or is dropped: forget what the milter said of it. */
static void
m_reset_msg(struct milter *m)
{
	size_t	i;

	milter_hdrscan_free(&m->hs);
	milter_hdrscan_init(&m->hs);
	if (m->chunk)
		evbuffer_drain(m->chunk, evbuffer_get_length(m->chunk));
	if (m->newbody)
		evbuffer_drain(m->newbody, evbuffer_get_length(m->newbody));
	for (i = 0; i < m->nmods; i++) {
		free(m->mods[i].name);
		free(m->mods[i].text);
	}
	free(m->mods);
	m->mods = NULL;
	m->nmods = 0;
	free(m->fields);
	m->fields = NULL;
	m->nfields = 0;
	m->replbody = 0;
	m->eoh_sent = 0;
	m->skip_body = 0;
}

void
milter_abort(struct session *s)
{
	struct milter	*m = s->milter;

	if (m == NULL || !m->in_msg)
		return;
	m->in_msg = 0;
	m_reset_msg(m);
	if (m->state != M_DEAD && !m->bypass) {
		/* Anything of the message not yet sent is not sent. */
		if (!m->waiting)
			evbuffer_drain(m->queue, evbuffer_get_length(m->queue));
		m_send(m, SMFIC_ABORT, NULL, 0);
		m_pump(m);
	}
	m->msg_bypass = 0;
}

static int
m_msg_engaged(const struct session *s)
{
	const struct milter	*m = s->milter;

	return m_active(s) && m->state != M_DEAD && !m->msg_bypass &&
	    m->msg_verdict == MV_CONTINUE;
}

static int
m_field(void *arg, const char *f, size_t len, uint64_t off)
{
	struct milter		*m = arg;
	struct field_ref	*nf;
	char			*out;
	size_t			 nl, vl;

	nf = reallocarray(m->fields, m->nfields + 1, sizeof(*nf));
	if (nf == NULL)
		return -1;
	m->fields = nf;
	nf[m->nfields].off = off;
	nf[m->nfields].len = len;
	m->nfields++;
	if (!m_msg_engaged(m->s))
		return 0;
	if ((out = malloc(len + 2)) == NULL)
		return -1;
	if (milter_field_split(f, len, (m->proto & SMFIP_HDR_LEADSPC) != 0,
	    out, &nl, &vl) == 0)
		m_send(m, SMFIC_HEADER, out, nl + vl + 2);
	free(out);
	return 0;
}

static void
m_eoh(struct milter *m)
{
	const char	*mac[2];

	if (m->eoh_sent)
		return;
	m->eoh_sent = 1;
	if (!m_msg_engaged(m->s))
		return;
	mac[0] = "i";
	mac[1] = m->s->msg.id;
	m_macros(m, SMFIC_EOH, mac, 2);
	m_send(m, SMFIC_EOH, NULL, 0);
}

static int
m_body(void *arg, const char *p, size_t len)
{
	struct milter	*m = arg;
	uint8_t		 buf[MILTER_CHUNK_MAX];
	int		 n;

	m_eoh(m);
	if (!m_msg_engaged(m->s) || m->skip_body)
		return 0;
	if (evbuffer_add(m->chunk, p, len) == -1)
		return -1;
	while (evbuffer_get_length(m->chunk) >= MILTER_CHUNK_MAX) {
		n = evbuffer_remove(m->chunk, buf, sizeof(buf));
		if (n > 0)
			m_send(m, SMFIC_BODY, buf, (size_t)n);
	}
	return 0;
}

void
milter_octets(struct session *s, const char *p, size_t len)
{
	struct milter	*m = s->milter;

	if (m == NULL || !m_active(s) || m->state == M_DEAD ||
	    m->msg_bypass)
		return;
	if (m->hs.off == 0 && m->nfields == 0 && !m->hs.done)
		m->msg_base = s->msg.written;
	if (milter_hdrscan_feed(&m->hs, p, len, m_field, m_body, m) == -1) {
		m_fail(m, "out-of-memory");
		return;
	}
	m_pump(m);
	/* Pause the client while the milter is behind. */
	if (evbuffer_get_length(m->queue) >= QUEUE_FULL)
		s->flags |= SF_MILTER;
}

static void
eom_done(struct milter *m)
{
	struct session	*s = m->s;
	const char	*why = NULL;

	m->in_msg = 0;
	if (m->verdict == MV_FAIL) {
		if ((why = m_down_reply(m)) == NULL) {
			/* accept: the message as it came, unchanged. */
			m_reset_msg(m);
		}
	} else if (m->msg_verdict == MV_REJECT)
		why = m->msg_reply;
	if (why != NULL) {
		log_info("session=%s milter=%s reject cmd=DATA reply=\"%.80s\"",
		    s->id, m->mc->text, why);
		session_reply(s, "%s", why);
	} else if (m->msg_verdict == MV_DISCARD) {
		log_info("session=%s milter=%s discard id=%s", s->id,
		    m->mc->text, s->msg.id);
		session_reply(s, R_QUEUED, s->msg.id);
	} else {
		txn_commit(s);
		session_settle(s);
		return;
	}
	m_reset_msg(m);
	txn_end(s);
	if (!(s->flags & SF_DEAD))
		session_process(s);
	session_settle(s);
}

int
milter_eom(struct session *s)
{
	struct milter	*m = s->milter;
	const char	*mac[2];
	uint8_t		 buf[MILTER_CHUNK_MAX];
	int		 n;

	if (m != NULL && (m->conn_verdict == MV_DISCARD ||
	    (m->msg_verdict != MV_CONTINUE && m->msg_bypass))) {
		/* Decided before the end: no more of it to the milter. */
		m->verdict = MV_CONTINUE;
		m->holding = 1;
		m->hold_fn = eom_done;
		if (m->conn_verdict == MV_DISCARD)
			m->msg_verdict = MV_DISCARD;
		m_check_hold(m);
		return 1;
	}
	if (m == NULL || !m_active(s) || m->state == M_DEAD) {
		if (m != NULL && m->state == M_DEAD && !m_default_accept(m)) {
			m->verdict = MV_FAIL;
			m->holding = 1;
			m->hold_fn = eom_done;
			m_check_hold(m);
			return 1;
		}
		return 0;
	}
	if (m->msg_bypass && m->msg_verdict == MV_CONTINUE)
		return 0;
	if (milter_hdrscan_end(&m->hs, m_field, m_body, m) == -1) {
		m_fail(m, "out-of-memory");
	} else if (m_msg_engaged(s)) {
		m_eoh(m);
		while ((n = evbuffer_remove(m->chunk, buf, sizeof(buf))) > 0)
			if (!m->skip_body)
				m_send(m, SMFIC_BODY, buf, (size_t)n);
		mac[0] = "i";
		mac[1] = s->msg.id;
		m_macros(m, SMFIC_BODYEOB, mac, 2);
		m_send(m, SMFIC_BODYEOB, NULL, 0);
	} else if (m->state != M_DEAD && m->in_msg) {
		/* Refused on the way: the milter forgets the message. */
		m_send(m, SMFIC_ABORT, NULL, 0);
	}
	m_hold(m, eom_done);
	return 1;
}

int
milter_changes(const struct session *s)
{
	const struct milter	*m = s->milter;

	return m != NULL && (m->nmods > 0 || m->replbody);
}

/* A copy between two places of one file, either direction. */
static int
move_range(int rfd, int fd, uint64_t from, uint64_t to, uint64_t len)
{
	char		buf[65536];
	uint64_t	done = 0, n;
	ssize_t		r;

	while (done < len) {
		n = len - done > sizeof(buf) ? sizeof(buf) : len - done;
		/* Moving up: from the end, so nothing is overwritten. */
		uint64_t at = to > from ? len - done - n : done;

		r = pread(rfd, buf, (size_t)n, (off_t)(from + at));
		if (r != (ssize_t)n)
			return -1;
		if (pwrite(fd, buf, (size_t)n, (off_t)(to + at)) !=
		    (ssize_t)n)
			return -1;
		done += n;
	}
	return 0;
}

/* The n-th (1-based) field named name, among the list; -1 if none. */
struct hentry {
	const char	*p;
	size_t		 len;
	int		 field;		/* counts as a header (not a gap) */
};

static int
hentry_is(const struct hentry *e, const char *name)
{
	size_t	n = strlen(name);

	return e->field && e->len > n && strncasecmp(e->p, name, n) == 0 &&
	    (e->p[n] == ':' || e->p[n] == ' ' || e->p[n] == '\t');
}

/*
 * On the commit's pool thread: apply the milter's header changes and
 * body to the spool file before it is made durable.  The file is not
 * committed yet, so rewriting it in place risks nothing.  0 or -1.
 */
int
milter_rewrite(struct session *s)
{
	struct milter	*m = s->milter;
	struct spool_msg *sm = &s->msg;
	struct hentry	*h = NULL;
	char		*hdrs = NULL, *out = NULL;
	uint64_t	 base = m->msg_base, hlen = m->hs.body_off, blen;
	size_t		 nh = 0, i, j, k, outlen = 0, cap;
	uint64_t	 pos;
	int		 r = -1, fd = sm->fd, rfd = -1;

	if (sm->error != 0 || fd == -1 || hlen > HDRS_REWRITE_MAX ||
	    hlen > sm->size) {
		errno = sm->error != 0 ? sm->error : EFBIG;
		return -1;
	}
	blen = sm->size - hlen;
	/* The spool's descriptor only writes: read through another. */
	if ((rfd = spool_msg_open_read(sm)) == -1)
		return -1;
	if ((hdrs = malloc(hlen + 1)) == NULL)
		goto done;
	if (pread(rfd, hdrs, (size_t)hlen, (off_t)base) != (ssize_t)hlen)
		goto done;
	cap = m->nfields * 2 + m->nmods + 2;
	if ((h = calloc(cap, sizeof(*h))) == NULL)
		goto done;
	/* Fields and the octets between them (unseen fields, the blank). */
	pos = 0;
	for (i = 0; i < m->nfields; i++) {
		if (m->fields[i].off > pos)
			h[nh++] = (struct hentry){ hdrs + pos,
			    (size_t)(m->fields[i].off - pos), 0 };
		h[nh++] = (struct hentry){ hdrs + m->fields[i].off,
		    m->fields[i].len, 1 };
		pos = m->fields[i].off + m->fields[i].len;
	}
	/* The tail: what ends the section (its empty line), kept last. */
	struct hentry tail = { hdrs + pos, (size_t)(hlen - pos), 0 };

	for (i = 0; i < m->nmods; i++) {
		struct mod	*md = &m->mods[i];
		struct hentry	 e = { md->text, md->textlen, 1 };

		if (md->type == SMFIR_ADDHEADER) {
			h[nh++] = e;
		} else if (md->type == SMFIR_INSHEADER ||
		    md->type == SMFIR_QUARANTINE) {
			uint32_t idx = md->type == SMFIR_INSHEADER ?
			    md->index : 0;

			for (j = 0, k = 0; j < nh && k < idx; j++)
				if (h[j].field)
					k++;
			memmove(h + j + 1, h + j, (nh - j) * sizeof(*h));
			h[j] = e;
			nh++;
		} else {
			for (j = 0, k = 0; j < nh; j++)
				if (hentry_is(&h[j], md->name) &&
				    ++k == md->index)
					break;
			if (j < nh && md->text == NULL) {
				memmove(h + j, h + j + 1,
				    (nh - j - 1) * sizeof(*h));
				nh--;
			} else if (j < nh)
				h[j] = e;
			else if (md->text != NULL)
				h[nh++] = e;
		}
	}
	for (i = 0, outlen = tail.len; i < nh; i++)
		outlen += h[i].len;
	if (m->replbody && tail.len == 0)
		outlen += 2;
	if ((out = malloc(outlen + 1)) == NULL)
		goto done;
	for (i = 0, pos = 0; i < nh; i++) {
		memcpy(out + pos, h[i].p, h[i].len);
		pos += h[i].len;
	}
	memcpy(out + pos, tail.p, tail.len);
	pos += tail.len;
	if (m->replbody && tail.len == 0) {
		memcpy(out + pos, "\r\n", 2);
		pos += 2;
	}
	if (m->replbody) {
		/* The new body, its lines ending in CRLF whatever it sent. */
		struct evbuffer_iovec	v;
		uint64_t		at = base + pos;
		char			prev = 0;

		if (pwrite(fd, out, (size_t)pos, (off_t)base) != (ssize_t)pos)
			goto done;
		while (evbuffer_peek(m->newbody, -1, NULL, &v, 1) > 0) {
			char	 lb[2 * 4096];
			size_t	 o = 0, take = v.iov_len > 4096 ? 4096 :
			    v.iov_len;
			const char *c = v.iov_base;

			for (j = 0; j < take; j++) {
				if (c[j] == '\n' && prev != '\r')
					lb[o++] = '\r';
				if (prev == '\r' && c[j] != '\n')
					lb[o++] = '\n';
				lb[o++] = c[j];
				prev = c[j];
			}
			if (pwrite(fd, lb, o, (off_t)at) != (ssize_t)o)
				goto done;
			at += o;
			evbuffer_drain(m->newbody, take);
		}
		if (prev == '\r') {
			if (pwrite(fd, "\n", 1, (off_t)at) != 1)
				goto done;
			at++;
		}
		blen = at - base - pos;
	} else {
		if (move_range(rfd, fd, base + hlen, base + pos, blen) == -1)
			goto done;
		if (pwrite(fd, out, (size_t)pos, (off_t)base) != (ssize_t)pos)
			goto done;
	}
	if (ftruncate(fd, (off_t)(base + pos + blen)) == -1 ||
	    lseek(fd, (off_t)(base + pos + blen), SEEK_SET) == -1)
		goto done;
	sm->size = pos + blen;
	sm->written = base + pos + blen;
	r = 0;
done:
	if (r == -1 && errno == 0)
		errno = EIO;
	free(out);
	free(h);
	free(hdrs);
	if (rfd != -1)
		close(rfd);
	return r;
}
