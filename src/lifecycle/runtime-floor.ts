/**
 * Which Node Gatehouse runs on, judged against ONE table: each line's end-of-life date and, for
 * supported lines, the first patch level with the security fixes the front door depends on —
 * llhttp 9.4.2 and 9.4.3 (every HTTP/1.1 request passes through that parser) and the TLS fixes
 * of the same security releases (22.23.0/22.23.2, 24.17.0/24.18.1, 26.3.1/26.5.1).
 *
 * Updating it (README "Supported runtimes"): after a Node security release that fixes the parser
 * or TLS, raise that line's `floor` to the first version carrying the fix; when a new line is
 * released, add a row with its end-of-life date from the Node.js release schedule
 * (github.com/nodejs/Release). Dates are UTC days; a line is end-of-life from the day after.
 */
export interface NodeLine {
  /** The major version. */
  readonly line: number;
  /** Last day of security support, YYYY-MM-DD. */
  readonly endOfLife: string;
  /** The first patch level with the parser and TLS security fixes; absent for lines that ended before them. */
  readonly floor?: string;
}

export const NODE_LINES: readonly NodeLine[] = Object.freeze([
  { line: 18, endOfLife: '2025-04-30' },
  { line: 19, endOfLife: '2023-06-01' },
  { line: 20, endOfLife: '2026-04-30' },
  { line: 21, endOfLife: '2024-06-01' },
  { line: 22, endOfLife: '2027-04-30', floor: '22.23.2' },
  { line: 23, endOfLife: '2025-06-01' },
  { line: 24, endOfLife: '2028-04-30', floor: '24.18.1' },
  { line: 25, endOfLife: '2026-06-01' },
  { line: 26, endOfLife: '2029-04-30', floor: '26.5.1' },
].map((l) => Object.freeze(l)));

/** Stable codes for the warning, in the log line's `code` field and in `gatehouse check`. */
export const RUNTIME_END_OF_LIFE = 'EDGE_WARN_RUNTIME_END_OF_LIFE';
export const RUNTIME_BELOW_FLOOR = 'EDGE_WARN_RUNTIME_BELOW_FLOOR';

export type RuntimeVerdict =
  | { readonly ok: true; readonly node: string; readonly message: string }
  | { readonly ok: false; readonly node: string; readonly code: typeof RUNTIME_END_OF_LIFE | typeof RUNTIME_BELOW_FLOOR; readonly message: string };

/**
 * Judge a Node version (default: the running one) on `today` (default: now). End-of-life wins
 * over the patch floor: upgrading within a dead line fixes nothing for long. A line newer than
 * the table is reported ok (the table is what needs updating, not the machine).
 */
export function judgeRuntime(version: string = process.version, today: Date = new Date(), table: readonly NodeLine[] = NODE_LINES): RuntimeVerdict {
  const node = version.replace(/^v/, '');
  const major = Number(node.split('.')[0]);
  const day = today.toISOString().slice(0, 10);
  const row = table.find((l) => l.line === major);
  const oldest = Math.min(...table.map((l) => l.line));
  const newest = Math.max(...table.map((l) => l.line));
  if (row === undefined && major > newest) {
    return { ok: true, node, message: `Node ${node}: a line newer than Gatehouse's runtime table (${oldest}-${newest}); not judged` };
  }
  if (row === undefined || row.endOfLife < day) {
    const ended = row === undefined ? `older than Node ${oldest}` : `line ${major} ended ${row.endOfLife}`;
    return { ok: false, node, code: RUNTIME_END_OF_LIFE, message: `${RUNTIME_END_OF_LIFE}: Node ${node} is end-of-life (${ended}) and gets no security fixes, not even for the HTTP parser every request passes; move to ${supported(table, day)}` };
  }
  if (row.floor !== undefined && compareVersions(node, row.floor) < 0) {
    return { ok: false, node, code: RUNTIME_BELOW_FLOOR, message: `${RUNTIME_BELOW_FLOOR}: Node ${node} is below ${row.floor}, the first ${major}.x with the llhttp 9.4.2/9.4.3 parser and TLS security fixes; upgrade to ${row.floor} or later` };
  }
  return { ok: true, node, message: `Node ${node}: supported until ${row.endOfLife}${row.floor === undefined ? '' : `, at or above the ${row.floor} security floor`}` };
}

/** The lines to move to: supported on `day`, each with its floor. */
function supported(table: readonly NodeLine[], day: string): string {
  const lines = table.filter((l) => l.endOfLife >= day && l.floor !== undefined).map((l) => `${l.floor as string}+`);
  return lines.length === 0 ? 'a supported Node line' : lines.join(', ');
}

/** Numeric comparison of dotted versions ("24.9.0" < "24.18.1"); a pre-release tag is ignored. */
export function compareVersions(a: string, b: string): number {
  const parts = (v: string): number[] => (v.split('-')[0] ?? '').split('.').map((p) => Number(p) || 0);
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Log the verdict on the running Node once at start: one warning line, or nothing when it is fine. */
export function warnAboutRuntime(log: { warn(fields: object, message: string): void }, verdict: RuntimeVerdict = judgeRuntime()): void {
  if (!verdict.ok) log.warn({ event: 'runtime', code: verdict.code, node: verdict.node, llhttp: process.versions.llhttp }, verdict.message);
}
