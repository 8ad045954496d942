import type { HstsConfig } from '../config/types.js';

/** The Strict-Transport-Security value, computed once per config (RFC 6797 §6.1). */
export function hstsValue(hsts: HstsConfig): string {
  return `max-age=${hsts.maxAge}${hsts.includeSubDomains ? '; includeSubDomains' : ''}${hsts.preload ? '; preload' : ''}`;
}
