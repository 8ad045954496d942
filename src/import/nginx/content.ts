import type { Directive } from './parse.js';
import type { ImportReport } from './report.js';
import type { Scope } from './scope.js';

// Placeholder until branch import-content lands its translator of files, compression, access,
// auth, rate limits and cache: it consumes nothing, so those directives are reported unsupported.

/** The content directives of one location → route keys (`files`, `compress`, `access`, `auth`, `rateLimit`, `cache`). */
export function translateContent(...args: [Scope, ImportReport]): { route: Record<string, unknown>; consumed: Set<Directive> } {
  return { route: {}, consumed: new Set(args.length > 2 ? [] : []) };
}

/** The http-level content directives → top-level keys (`rateLimits`, `cache`). */
export function translateHttpLevel(...args: [Scope, ImportReport]): { top: Record<string, unknown>; consumed: Set<Directive> } {
  return { top: {}, consumed: new Set(args.length > 2 ? [] : []) };
}
