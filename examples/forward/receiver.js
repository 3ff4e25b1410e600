// A destination of imcallback's gateway mode in Node.js (no packages):
// verifies the Standard Webhooks signature, answers before-callbacks with
// IM's envelope, takes after-callbacks with 204.
//   WEBHOOK_SECRET=whsec_... PORT=8090 node receiver.js
// HOST is the address listened on: 127.0.0.1 (this machine only) unless
// set; 0.0.0.0 in a container, or wherever the service runs on another
// host, which could not reach it otherwise.
// MAX_CONNECTIONS (1 to 65535; default 512) bounds the connections held at
// once.
const http = require('http');
const crypto = require('crypto');

// The key as the service reads it: whsec_ then standard base64 of at least
// 16 bytes. Buffer.from skips what is not base64, and an empty key would
// verify what anyone signs: refused at the start, as the service does.
const secret = (process.env.WEBHOOK_SECRET || '').replace(/^whsec_/, '');
const key = Buffer.from(secret, 'base64');
if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(secret) || key.length < 16) {
  console.error('WEBHOOK_SECRET must be one secret, whsec_ followed by the base64 of at least 16 bytes');
  process.exit(1);
}
// The largest body read before the signature is checked: the gateway
// forwards the callback's body, at most the service's body_limit (1 MiB by
// default); anyone can send more.
const MAX_BODY = 4 << 20;
// The most connections held at once; one more is closed as it comes. Each
// may buffer up to MAX_BODY before its signature is checked, so without a
// bound clients that connect and send slowly grow the receiver's memory
// as far as they like. The gateway keeps up to 128 connections to a
// destination for each kind of callback, before and after: 256 in all.
const MAX_CONNECTIONS = Number(process.env.MAX_CONNECTIONS || '512');
if (!/^[0-9]+$/.test(process.env.MAX_CONNECTIONS || '512') || MAX_CONNECTIONS < 1 || MAX_CONNECTIONS > 65535) {
  console.error('MAX_CONNECTIONS must be a whole number from 1 to 65535 (default 512)');
  process.exit(1);
}

// The deny code the client sees, which must lie in the command's range
// (docs/commands.md, "Deny codes"): another is sent as a plain deny (1)
// and logged by the service as the receiver's mistake. 1, a plain deny,
// suits every before-command.
const DENY_CODES = new Map([['C2C.CallbackBeforeSendMsg', 120001], ['Group.CallbackBeforeSendMsg', 10100]]);

function verified(req, body) {
  const id = req.headers['webhook-id'], ts = req.headers['webhook-timestamp'];
  // Digits alone: Number() of another value may be NaN, which no
  // comparison finds more than 300 s away.
  if (!id || !/^[0-9]+$/.test(ts || '') || Math.abs(Date.now() / 1000 - Number(ts)) > 300) return false;
  // The body's bytes as received: a decoded string would turn bytes that
  // are not UTF-8 into U+FFFD and no longer match what was signed.
  const want = crypto.createHmac('sha256', key).update(`${id}.${ts}.`).update(body).digest();
  // One "v1,<sig>" per secret the service signs with, separated by spaces
  // (two while a secret is rotated): any one that verifies will do.
  return (req.headers['webhook-signature'] || '').split(' ').some((s) => {
    const [v, sig] = s.split(',');
    const got = Buffer.from(sig || '', 'base64');
    return v === 'v1' && got.length === want.length && crypto.timingSafeEqual(got, want);
  });
}

// Set by the stop: each answer then closes its connection (the gateway
// keeps its connections alive), so none takes another request.
let stopping = false;

const server = http.createServer((req, res) => {
  if (Number(req.headers['content-length'] || 0) > MAX_BODY) return res.writeHead(413, { Connection: 'close' }).end();
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size <= MAX_BODY) chunks.push(c);
    else if (!res.headersSent) res.writeHead(413, { Connection: 'close' }).end(); // the rest is dropped
  });
  req.on('end', () => {
    if (size > MAX_BODY) return;
    if (stopping) res.setHeader('Connection', 'close');
    const raw = Buffer.concat(chunks);
    if (!verified(req, raw)) return res.writeHead(401).end();
    // Decoded once, whole: a character split across two chunks stays intact.
    const body = raw.toString('utf8');
    const command = req.headers['x-imcallback-command'];
    console.log(command, req.headers['webhook-id']);
    // The kind, not the name: Sns.CallbackPrevFriendAdd is a before-callback too.
    if (req.headers['x-imcallback-kind'] !== 'before') return res.writeHead(204).end();
    const denied = body.includes('badword'); // your moderation here
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(
      denied ? { ActionStatus: 'OK', ErrorCode: DENY_CODES.get(command) || 1, ErrorInfo: 'blocked word' }
             : { ActionStatus: 'OK', ErrorCode: 0, ErrorInfo: '' }));
  });
});
server.maxConnections = MAX_CONNECTIONS;
server.listen(Number(process.env.PORT || 8090), process.env.HOST || '127.0.0.1', () => console.log('listening'));

// SIGTERM (a deploy's stop) or Ctrl-C: stop taking connections, close the
// idle ones, let the requests in progress finish, each answer closing its
// connection, and exit 0 once they have; after 10 s, close what is left and
// exit 1. Killed at once instead, the receiver would cut off the gateway's
// requests mid-way; with its kept-alive connections left open, it would
// take their next requests until the 10 s ran out, and cut those off.
function stop() {
  console.log('stopping');
  stopping = true;
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => { server.closeAllConnections(); process.exit(1); }, 10000).unref();
}
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
