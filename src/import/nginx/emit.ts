import { Document } from 'yaml';
import type { Translation } from './translate.js';

/** The imported config as YAML, with a header saying where it came from and what to check. */
export function emitYaml(t: Translation, sources: readonly string[]): string {
  const doc = new Document(t.config);
  const notes = [
    ` Imported from nginx by \`gatehouse import nginx\`: ${sources.join(' ')}`,
    ' Check it with `gatehouse check --config FILE`; the report (stderr) lists every directive',
    ' that was not carried over exactly. README "Coming from nginx" explains the translation.',
  ];
  if (t.certificates.some((c) => c.cert.includes('/letsencrypt/'))) {
    notes.push(
      ' Certificates are certbot\'s: Gatehouse reloads them when certbot renews. Or let Gatehouse',
      ' obtain them itself: replace tls.certificates with `acme: { email: you@example.com }`',
      ' (README "Certificates without certbot").',
    );
  } else if (t.certificates.length === 0) {
    notes.push(' No ssl_certificate in the nginx config: add tls.certificates, or tls.acme to obtain them.');
  }
  doc.commentBefore = notes.join('\n');
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
}
