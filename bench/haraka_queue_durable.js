// bench/haraka_queue_durable.js: a Haraka queue plugin for bench/run that
// makes Haraka's 250 as durable as smtpauthd's and Postfix's: the message
// is written to a new file, the file is fsynced, renamed into the spool
// folder, and the folder is fsynced, and only then does the client get
// 250.  Nothing is delivered further (the file stays: a durable spool
// without a delivery agent).  The folder is HARAKA_DURABLE_DIR.
'use strict';

const fs = require('fs');
const path = require('path');

let dir = null;
let seq = 0;

exports.register = function () {
    dir = process.env.HARAKA_DURABLE_DIR;
    if (!dir) throw new Error('queue_durable: HARAKA_DURABLE_DIR is not set');
    fs.mkdirSync(dir, { recursive: true });
    this.register_hook('queue', 'store');
    this.register_hook('queue_outbound', 'store');
};

exports.store = function (next, connection) {
    const txn = connection.transaction;
    const base = `${process.pid}.${Date.now()}.${seq++}`;
    const tmp = path.join(dir, `.${base}.tmp`);
    const fin = path.join(dir, base);
    const fail = (what, err) => {
        connection.logerror(this, `${what}: ${err.message}`);
        next(DENYSOFT, 'spool write failed');
    };
    txn.message_stream.get_data((buf) => {
        fs.open(tmp, 'wx', 0o600, (err, fd) => {
            if (err) return fail('open', err);
            fs.write(fd, buf, 0, buf.length, 0, (err2) => {
                if (err2) return fs.close(fd, () => fail('write', err2));
                fs.fsync(fd, (err3) => {
                    fs.close(fd, (err4) => {
                        if (err3 || err4) return fail('fsync', err3 || err4);
                        fs.rename(tmp, fin, (err5) => {
                            if (err5) return fail('rename', err5);
                            fs.open(dir, 'r', (err6, dfd) => {
                                if (err6) return fail('open dir', err6);
                                fs.fsync(dfd, (err7) => {
                                    fs.close(dfd, () => {
                                        if (err7) return fail('fsync dir', err7);
                                        next(OK, 'queued durably');
                                    });
                                });
                            });
                        });
                    });
                });
            });
        });
    });
};
