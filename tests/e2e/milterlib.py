"""A milter test double: a small milter (protocol 6) in a thread, on a
loopback port, whose answers a test chooses.  Only for the edge cases
(silence, death, every modification); real milters (rspamd, OpenDKIM)
are tested with the real programs."""
import socket
import struct
import threading


class Milter:
    def __init__(self, on=None, actions=0x33, protocol=0):
        # on(cmd, data) -> list of (code, payload) replies, or None for
        # the default: 'c' (and for the end of message too).
        self.on = on or (lambda cmd, data: None)
        self.actions = actions
        self.protocol = protocol
        self.seen = []          # (cmd, data) of every packet
        self.macros = {}
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.spec = "inet:127.0.0.1:%d" % self.port
        self.conns = []
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,),
                             daemon=True).start()

    @staticmethod
    def _recv(c, n):
        b = b""
        while len(b) < n:
            d = c.recv(n - len(b))
            if not d:
                raise EOFError
            b += d
        return b

    def _serve(self, c):
        try:
            while True:
                (n,) = struct.unpack("!I", self._recv(c, 4))
                pkt = self._recv(c, n)
                cmd, data = chr(pkt[0]), pkt[1:]
                with self.lock:
                    self.seen.append((cmd, data))
                if cmd == "O":
                    c.sendall(self.pkt("O", struct.pack(
                        "!III", 6, self.actions, self.protocol)))
                    continue
                if cmd == "D":
                    parts = data[1:].split(b"\0")
                    for k, v in zip(parts[0::2], parts[1::2]):
                        self.macros[k.decode()] = v.decode()
                    continue
                if cmd in "AQ":
                    if cmd == "Q":
                        return
                    continue
                r = self.on(cmd, data)
                if r == "hang":
                    threading.Event().wait(3600)
                if r == "die":
                    c.close()
                    return
                for code, payload in (r or [("c", b"")]):
                    c.sendall(self.pkt(code, payload))
        except (EOFError, OSError):
            return

    @staticmethod
    def pkt(code, payload=b""):
        return struct.pack("!I", len(payload) + 1) + code.encode() + payload

    def cmds(self):
        with self.lock:
            return [c for c, _ in self.seen]

    def stop(self):
        self.stopping = True
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


def hdr(name, value, index=None):
    b = name.encode() + b"\0" + value.encode() + b"\0"
    return b if index is None else struct.pack("!I", index) + b
