import { createSecureContext } from 'node:tls';

/**
 * X25519 combined with ML-KEM-768 (draft-ietf-tls-ecdhe-mlkem): a key exchange that stays
 * secret even against a future quantum computer, as long as either half holds. OpenSSL 3.5
 * has it (Node 22.20+, 24, 26); OpenSSL 3.0 (Node 20) does not.
 */
export const HYBRID_GROUP = 'X25519MLKEM768';

/** The classic groups, in OpenSSL's default order (RFC 8446 §4.2.7 names in OpenSSL spelling). */
const CLASSIC_GROUPS: readonly string[] = ['X25519', 'P-256', 'X448', 'P-521', 'P-384'];

/** Whether this runtime's OpenSSL can negotiate the hybrid group. */
function probeHybrid(): boolean {
  try {
    createSecureContext({ ecdhCurve: HYBRID_GROUP });
    return true;
  } catch {
    return false;
  }
}

/**
 * Probed once, when this module loads: a refused group can leave its error on OpenSSL's queue
 * of the thread, and a later, unrelated TLS call may then report it as its own (seen once as an
 * uncaught "group 'X25519MLKEM768' cannot be set" on Node 20 while other contexts were made).
 * One probe before any socket exists keeps that out of serving.
 */
const HYBRID_SUPPORTED = probeHybrid();

export function supportsHybrid(): boolean {
  return HYBRID_SUPPORTED;
}

/**
 * The key-exchange groups every TLS context offers, most preferred first: the hybrid where the
 * runtime has it, then the classic groups for clients without it. Set explicitly (not left to
 * the runtime's default) so what Gatehouse negotiates is stated, logged and tested here.
 */
export function keyExchangeGroups(): readonly string[] {
  return supportsHybrid() ? [HYBRID_GROUP, ...CLASSIC_GROUPS] : CLASSIC_GROUPS;
}
