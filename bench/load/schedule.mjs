// The open model's timetable. A run is a list of stages, each ramping the request rate linearly
// from `from` to `to` req/s over `seconds` (a constant --rate is one flat stage). The n-th request
// is *intended* at the time t where the integral of the rate from 0 to t reaches n: sends follow
// this timetable whatever the answers do, and latency counts from the intended time (wrk2's
// correction for coordinated omission), so a request held back by a stall is charged the wait.

/** `10s:100,30s:500,10s:0` → stages ramping from the previous target (the first from 0). */
export function parseStages(text, parseSeconds) {
  let from = 0;
  return String(text).split(',').map((part) => {
    const m = /^([^:]+):(\d+(?:\.\d+)?)$/.exec(part.trim());
    if (!m) throw new Error(`bad stage "${part}" (use DURATION:RATE, e.g. 10s:100,30s:500,10s:0)`);
    const stage = { seconds: parseSeconds(m[1]), from, to: Number(m[2]) };
    from = stage.to;
    return stage;
  });
}

export const flat = (rate, seconds) => [{ seconds, from: rate, to: rate }];
export const totalSeconds = (stages) => stages.reduce((a, s) => a + s.seconds, 0);

/** Scale every rate (a worker takes 1/N of the schedule). */
export const scaled = (stages, k) => stages.map((s) => ({ ...s, from: s.from * k, to: s.to * k }));

/** Requests due by `t` seconds, and the intended time in seconds of request `n`. */
export function timetable(stages) {
  const starts = [];
  let t0 = 0;
  let c0 = 0;
  for (const s of stages) {
    starts.push({ t0, c0, ...s });
    t0 += s.seconds;
    c0 += ((s.from + s.to) / 2) * s.seconds;
  }
  const end = { t: t0, count: c0 };
  return {
    seconds: end.t,
    planned: Math.floor(end.count),
    /** How many requests are due by time t (seconds since start). */
    due(t) {
      if (t >= end.t) return Math.floor(end.count);
      const s = starts.findLast((x) => x.t0 <= t);
      const x = t - s.t0;
      return Math.floor(s.c0 + s.from * x + ((s.to - s.from) / (2 * s.seconds)) * x * x);
    },
    /** Intended send time (s) of request n: the inverse of due(). */
    intended(n) {
      const s = starts.findLast((x) => x.c0 <= n) ?? starts[0];
      const k = (s.to - s.from) / s.seconds;
      const left = n - s.c0;
      if (Math.abs(k) < 1e-12) return s.t0 + (s.from > 0 ? left / s.from : 0);
      // from·x + k/2·x² = left  →  x = (−from + √(from² + 2k·left)) / k
      return s.t0 + (-s.from + Math.sqrt(Math.max(0, s.from * s.from + 2 * k * left))) / k;
    },
  };
}
