#!/usr/bin/env python3
"""A tiny SMTP sink for the notification tests (Debian's python3-aiosmtpd).

    smtp_sink.py PORT OUTDIR [--die-on-data N] [--hang-on-data N]

Listens on 127.0.0.1:PORT and writes every accepted message to
OUTDIR/NNNN.eml: two envelope lines (X-Sink-Mail-From, X-Sink-Rcpt-To)
followed by the message exactly as received. Prints "ready" once it
listens. --die-on-data N exits the process, without answering or saving,
when the Nth message's data has arrived (a server dropping the connection
mid-delivery); --hang-on-data N never answers the Nth message (a server
that hangs). Not a mail server: it relays nothing.
"""
import asyncio
import os
import signal
import sys

try:
    from aiosmtpd.controller import Controller
except ImportError:  # a non-Debian python3 first on PATH
    sys.path.append('/usr/lib/python3/dist-packages')
    from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, outdir, die_on, hang_on):
        self.outdir = outdir
        self.die_on = die_on
        self.hang_on = hang_on
        self.seen = 0
        self.saved = len([f for f in os.listdir(outdir) if f.endswith('.eml')])

    async def handle_DATA(self, server, session, envelope):
        self.seen += 1
        if self.seen == self.die_on:
            os._exit(3)
        if self.seen == self.hang_on:
            await asyncio.sleep(3600)
        self.saved += 1
        name = os.path.join(self.outdir, '%04d-%d.eml' % (self.saved, os.getpid()))
        head = 'X-Sink-Mail-From: %s\r\nX-Sink-Rcpt-To: %s\r\n' % (
            envelope.mail_from, ','.join(envelope.rcpt_tos))
        with open(name + '.tmp', 'wb') as f:
            f.write(head.encode('utf-8') + envelope.original_content)
        os.rename(name + '.tmp', name)
        return '250 OK stored'


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    port, outdir = int(argv[1]), argv[2]
    die_on = hang_on = 0
    rest = argv[3:]
    while rest:
        opt, val = rest[0], int(rest[1])
        if opt == '--die-on-data':
            die_on = val
        elif opt == '--hang-on-data':
            hang_on = val
        else:
            sys.stderr.write('unknown option %s\n' % opt)
            return 2
        rest = rest[2:]
    os.makedirs(outdir, exist_ok=True)
    ctl = Controller(Sink(outdir, die_on, hang_on), hostname='127.0.0.1', port=port)
    ctl.start()
    print('ready', flush=True)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
