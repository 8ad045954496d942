/**
 * Node releases with a defect that a client can trigger from the network, and the feature
 * Gatehouse turns off while it runs on one of them. A release is listed when the defect was
 * reproduced (or reported upstream) on exactly that release; a release not listed is trusted.
 * To update: reproduce on the new release (test/node-defects.test.ts says how), add or remove
 * its version here, and keep README's "Known limits" in step.
 */
export interface NodeDefect {
  /** Exact `process.versions.node` values. */
  readonly versions: readonly string[];
  /** What Gatehouse turns off on them. */
  readonly feature: 'http2';
  readonly what: string;
}

export const NODE_DEFECTS: readonly NodeDefect[] = Object.freeze([
  {
    // Four frames in one read abort the process (exit 134) with no handler of ours on the stack:
    // HEADERS (content-length: 0), DATA past that length (nghttp2 resets the stream), then
    // HEADERS and DATA of a new stream. Reproduced here on 22.23.3 against a bare
    // http2.createServer(); 20.20, 24.21 and 26.10 survive it. 26.8.1 aborts on the same
    // assertion in the upstream report.
    versions: ['22.23.3', '26.8.1'],
    feature: 'http2',
    what: 'a client can abort the process with four HTTP/2 frames (Assertion failed: onread->IsFunction(), nodejs/node#64850)',
  },
]);

/** The listed defect of `feature` on Node `version`, if there is one. */
export function knownDefect(feature: NodeDefect['feature'], version: string): NodeDefect | undefined {
  return NODE_DEFECTS.find((d) => d.feature === feature && d.versions.includes(version));
}

/**
 * The defect that turns `feature` off in this process. `GATEHOUSE_ACCEPT_NODE_DEFECTS=http2`
 * keeps it on anyway: for an operator whose clients are all trusted (behind a balancer that
 * speaks h2 to them itself), and for the test suite, so that its h2 tests run on every release.
 */
export function defectFor(feature: NodeDefect['feature'], env: NodeJS.ProcessEnv = process.env): NodeDefect | undefined {
  const accepted = (env.GATEHOUSE_ACCEPT_NODE_DEFECTS ?? '').split(',').map((s) => s.trim());
  return accepted.includes(feature) ? undefined : knownDefect(feature, process.versions.node);
}
