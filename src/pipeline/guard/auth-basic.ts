import type { IncomingHttpHeaders } from 'node:http';
import type { BasicAuthConfig } from '../../config/guard.js';
import { denial, type Denial } from './answer.js';
import { retryAfterMs, type GcraTable } from './gcra.js';
import type { HtpasswdFile } from './htpasswd.js';

/** Failed attempts per client address: 10 at once, then one more every 30 s; answered 429 beyond. */
const FAILURE_INTERVAL_MS = 30_000;
const FAILURE_BURST = 10;
const FAILURE_TOLERANCE = FAILURE_INTERVAL_MS * (FAILURE_BURST - 1);

/** RFC 7617 §2: "Basic" (any case), one space or more, token68. */
const BASIC = /^basic[ \t]+([A-Za-z0-9+/]+=*)[ \t]*$/i;

/** `auth.basic` (README "Access control"): 401 with a challenge until the htpasswd file accepts the credentials. */
export class BasicAuth {
  readonly #file: HtpasswdFile;
  readonly #failures: GcraTable;
  readonly #challenge: readonly [string, string];

  constructor(config: BasicAuthConfig, file: HtpasswdFile, failures: GcraTable) {
    this.#file = file;
    this.#failures = failures;
    // RFC 7617 §2.1: charset="UTF-8" tells the browser how to encode non-ASCII credentials.
    this.#challenge = ['www-authenticate', `Basic realm="${config.realm}", charset="UTF-8"`];
  }

  async check(headers: IncomingHttpHeaders, clientIp: string): Promise<Denial | undefined> {
    const key = `basic|${clientIp}`;
    const now = Date.now();
    const budget = this.#failures.peek(key, now, FAILURE_TOLERANCE);
    if (!budget.allowed) {
      const seconds = Math.max(1, Math.ceil(retryAfterMs(budget, FAILURE_TOLERANCE) / 1000));
      return denial('EDGE_ERR_AUTH_THROTTLED', 'too many failed logins', 'auth.basic (failures from this address)', [['retry-after', String(seconds)]]);
    }
    const header = headers.authorization;
    // No credentials: the browser's first request, not a failure.
    if (header === undefined) return denial('EDGE_ERR_UNAUTHORIZED', 'authentication required', 'auth.basic', [this.#challenge]);
    const match = BASIC.exec(header);
    const decoded = match === null ? '' : Buffer.from(match[1] as string, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const ok = colon > 0 && await this.#file.verify(decoded.slice(0, colon), decoded.slice(colon + 1));
    if (ok) return undefined;
    this.#failures.take(key, Date.now(), FAILURE_INTERVAL_MS, FAILURE_TOLERANCE);
    return denial('EDGE_ERR_UNAUTHORIZED', match === null ? 'malformed Authorization' : 'wrong user or password', 'auth.basic', [this.#challenge]);
  }
}
