/**
 * A path a location regex matches, built from the regex itself: anchors dropped, each group its
 * first alternative, each class or wildcard one plain character, then checked against the regex
 * (undefined when the guess does not match: such a location is reported as not sampled).
 */
export function sampleFor(pcre: string, caseInsensitive: boolean): string | undefined {
  const source = toJs(pcre);
  let re: RegExp;
  try {
    re = new RegExp(source, caseInsensitive ? 'i' : '');
  } catch {
    return undefined;
  }
  let s = source;
  for (let i = 0; i < 4; i++) s = s.replace(/\((\?:|\?<[a-zA-Z_]\w*>)?([^()|]*)(\|[^()]*)?\)([?*+]?)/g, (_m, _g, first: string) => first);
  s = s
    .replace(/^\^/, '').replace(/\$$/, '')
    .replace(/\[\^[^\]]*\][*+?]?/g, 'x')
    .replace(/\[([^\]\\])[^\]]*\]([*+?]|\{[\d,]+\})?/g, '$1')
    .replace(/\\d([*+?]|\{[\d,]+\})?/g, '1')
    .replace(/\\w([*+?]|\{[\d,]+\})?/g, 'x')
    .replace(/\\s([*+?]|\{[\d,]+\})?/g, '-')
    .replace(/\.([*+?]|\{[\d,]+\})/g, 'x')
    .replace(/(^|[^\\])\.(?![*+?])/g, '$1x')
    .replace(/\\(.)/g, '$1')
    .replace(/([^?*+])[?*](?![*+?])/g, '$1')
    .replace(/\+/g, '')
    .replace(/\{[\d,]+\}/g, '');
  const candidates = s.startsWith('/') ? [s] : [`/compare/x${s}`, `/${s}`, `/compare/${s}`];
  return candidates.find((c) => c.startsWith('/') && re.test(c));
}

/** PCRE as nginx writes it, as a JavaScript pattern: `(?P<name>` named groups. */
export function toJs(pcre: string): string {
  return pcre.replace(/\(\?P</g, '(?<');
}
