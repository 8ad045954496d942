// The load engine: undici's Pool (HTTP/1.1 with pipelining, or HTTP/2 multiplexed streams via
// allowH2) driven through `dispatch` with a minimal handler, so the client spends its CPU on the
// wire, not on promise and stream machinery. Two models:
//  - closed (no --rate): connections × pipelining requests always outstanding, each answer
//    sending the next; latency from the actual send (what wrk and autocannon report).
//  - open (--rate or --stages): sends follow schedule.mjs's timetable whatever the answers do,
//    at most `maxInflight` outstanding; latency from the *intended* send time; requests due but
//    never sent are the shortfall. Everything is bounded by the run's seconds plus `timeoutMs`.
import { Pool } from 'undici';
import { makeRecorder } from './stats.mjs';
import { timetable } from './schedule.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Run one engine in this thread. `onSecond(i, encodedWindow)` is called once a second.
 * Returns the encoded totals, the counts, this thread's event-loop utilisation and the HSTS seen.
 */
export async function runEngine(o) {
  const url = new URL(o.url);
  const h2 = Boolean(o.h2);
  const pool = new Pool(url.origin, {
    connections: o.connections,
    pipelining: o.pipelining,
    allowH2: h2,
    ...(h2 ? { maxConcurrentStreams: o.pipelining } : {}),
    headersTimeout: o.timeoutMs,
    bodyTimeout: o.timeoutMs,
    connect: { ...(o.ca ? { ca: o.ca } : {}), servername: o.servername ?? url.hostname, ...(h2 ? {} : { ALPNProtocols: ['http/1.1'] }) },
  });
  const rec = makeRecorder();
  const headers = { host: url.host, 'user-agent': 'gatehouse-bench', ...(o.headers ?? {}) };
  const path = url.pathname + url.search;
  const seen = { hsts: undefined, protocols: new Set() };
  let inflight = 0;
  let stopping = false;
  let sent = 0;

  /** One request; `t0` is when it counts from (intended time in the open model). */
  function send(t0, then) {
    inflight++;
    sent++;
    rec.sent();
    let status = 0;
    pool.dispatch({ method: 'GET', path, headers }, {
      onConnect() {},
      onHeaders(code, raw) {
        status = code;
        if (seen.hsts === undefined) seen.hsts = headerValue(raw, 'strict-transport-security');
        return true;
      },
      onData() { return true; },
      onComplete() { finish(() => rec.answer(status, (performance.now() - t0) * 1000), then); },
      onError(err) { finish(() => rec.error(errorKind(err)), then); },
    });
  }
  function finish(note, then) {
    inflight--;
    // Answers after the cut-off belong to no second and no total: the run is its duration.
    if (!stopping) note();
    if (!stopping && then) then();
  }

  // Connect first, as wrk and wrk2 do: one uncounted request per slot opens the pool's
  // connections, so the TLS handshakes are not charged to the first second's answers.
  const warm = () => new Promise((resolve) => pool.dispatch({ method: 'GET', path, headers }, {
    onConnect() {}, onHeaders() { return true; }, onData() { return true; }, onComplete: resolve, onError: resolve,
  }));
  await Promise.race([Promise.all(Array.from({ length: o.connections * o.pipelining }, warm)), sleep(o.timeoutMs)]);

  const elu0 = performance.eventLoopUtilization();
  const started = performance.now();
  let second = 0;
  const ticker = setInterval(() => o.onSecond?.(second++, rec.second()), 1000);
  let shortfall = 0;
  let planned;

  if (o.stages === undefined) {
    const loop = () => send(performance.now(), loop);
    for (let i = 0; i < o.connections * o.pipelining; i++) loop();
    await sleep(o.seconds * 1000);
  } else {
    const tt = timetable(o.stages);
    planned = tt.planned;
    let next = 0;
    // Every millisecond, send whatever is due; a backlog (at the inflight bound) keeps its
    // intended times, so the wait it spends in the client is counted in its latency.
    await new Promise((resolve) => {
      const tick = () => {
        const now = (performance.now() - started) / 1000;
        const due = tt.due(now);
        while (next < due && inflight < o.maxInflight) send(started + tt.intended(next++) * 1000);
        if (now >= tt.seconds) resolve();
        else setTimeout(tick, 1);
      };
      tick();
    });
    shortfall = planned - next;
  }
  stopping = true;
  clearInterval(ticker);
  const last = rec.second();
  if (last.sent > 0 || Object.keys(last.classes).length > 0) o.onSecond?.(second++, last);
  const elapsedS = (performance.now() - started) / 1000;
  const elu = performance.eventLoopUtilization(elu0).utilization;
  // Answers after the cut-off would be counted nowhere: cut the connections now.
  const unfinished = inflight;
  await pool.destroy().catch(() => {});
  return { total: rec.total(), sent, planned: planned ?? null, shortfall, unfinished, elapsedS, elu, hsts: seen.hsts ?? null };
}

function headerValue(raw, name) {
  for (let i = 0; i < raw.length; i += 2) if (raw[i].toString('latin1').toLowerCase() === name) return raw[i + 1].toString('latin1');
  return null;
}

/** A short, stable name for why a request got no answer. */
function errorKind(err) {
  const code = err?.code ?? err?.name ?? 'error';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'timeout';
  if (code === 'UND_ERR_SOCKET') return err.cause?.code ?? 'socket closed';
  return code;
}
