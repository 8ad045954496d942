// Node releases a client can abort through their own http2 code (src/lifecycle/node-defects.ts).
// Four frames in one write abort Node 22.23.3 (exit 134, `Assertion failed: onread->IsFunction()`)
// even behind a bare http2.createServer(). On a listed release the edge offers no h2 at all, so
// those bytes never reach nghttp2; on any other release they do, and the edge must survive them.
// Either way the next client is served. Without the table entry this file dies with SIGABRT on
// 22.23.3 (checked): that is the test that fails without the fix.
import { connect as tlsConnect } from 'node:tls';
import t from 'tap';
import { defectFor, knownDefect } from '../src/lifecycle/node-defects.js';
import { testCerts } from './helpers/certs.js';
import { basicConfig, startEdge } from './helpers/edge.js';
import { FRAME, RawH2, field, frame, headers, ref } from './helpers/h2-frames.js';
import { get } from './helpers/net.js';
import { startBackend } from './helpers/upstream.js';

t.test('the table names the releases and only them', async (t) => {
  t.ok(knownDefect('http2', '22.23.3'), '22.23.3: reproduced here');
  t.equal(knownDefect('http2', '22.23.2'), undefined, 'a neighbouring release is trusted');
  for (const v of ['20.20.2', '24.21.0', '26.10.0']) t.equal(knownDefect('http2', v), undefined, `${v} survives the frames`);
  t.equal(defectFor('http2', { GATEHOUSE_ACCEPT_NODE_DEFECTS: 'http2' }), undefined, 'an operator can accept the defect');
});

/**
 * HEADERS (content-length: 0, no END_STREAM), DATA past that length (nghttp2 resets the
 * stream: RFC 9113 §8.1.1), then HEADERS and DATA of a new stream, in one write.
 */
function abortingFrames(): Buffer {
  // Static table (RFC 7541 Appendix A): 3 = :method POST, 7 = :scheme https, 4 = :path /.
  const post = (extra: Buffer[]): Buffer => Buffer.concat([ref(3), ref(7), ref(4), field(':authority', 'localhost'), ...extra]);
  return Buffer.concat([
    headers(5, post([field('content-length', '0')]), { endStream: false }),
    frame(FRAME.DATA, 0, 5, Buffer.from('body-k1000', 'latin1')),
    headers(7, post([]), { endStream: false }),
    frame(FRAME.DATA, 0, 7, Buffer.from('\n', 'latin1')),
  ]);
}

/** The protocol the edge's ALPN picks for a client offering h2 first. */
async function negotiated(port: number): Promise<string | false | null> {
  const certs = await testCerts();
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: certs.caPem, ALPNProtocols: ['h2', 'http/1.1'] }, () => {
      resolve(socket.alpnProtocol);
      socket.destroy();
    });
    socket.on('error', reject);
    setTimeout(() => { socket.destroy(); reject(new Error('no TLS handshake within 5 s')); }, 5000).unref();
  });
}

// The suite's helpers accept the defect so that h2 tests run on every release; this file is the
// one that checks what a deployment gets by default.
delete process.env.GATEHOUSE_ACCEPT_NODE_DEFECTS;

t.test(`the frames that abort Node 22.23.3, sent to an edge on Node ${process.versions.node}`, async (t) => {
  const backend = await startBackend(t);
  const { port, logs } = await startEdge(t, basicConfig([backend.address]));
  const defect = defectFor('http2');
  if (defect !== undefined) {
    t.equal(await negotiated(port), 'http/1.1', 'ALPN never offers h2 on this release');
    const warning = await logs.next((l) => l.level === 40 && String(l.msg).startsWith(`HTTP/2 is off on Node ${process.versions.node}`));
    t.ok(warning, 'one warning says why h2 is off');
  } else {
    t.equal(await negotiated(port), 'h2', 'h2 is offered on this release');
    const client = await RawH2.open(t, port);
    client.write(abortingFrames());
    // nghttp2 refuses the overrun: RST_STREAM on stream 5 (Node 20, 24) or GOAWAY for the connection (Node 26).
    const refusal = await client.until((f) => (f.type === FRAME.RST_STREAM && f.stream === 5) || f.type === FRAME.GOAWAY, 'RST_STREAM on the overrun stream 5, or GOAWAY');
    t.ok(refusal, `the overrun was refused (${refusal.type === FRAME.GOAWAY ? 'GOAWAY' : 'RST_STREAM'})`);
  }
  const after = await get(port, '/after');
  t.equal(after.status, 200, 'the next client is served: the process survived');
  t.equal(backend.seen.at(-1)?.url, '/after', 'and its request reached the upstream');
});
