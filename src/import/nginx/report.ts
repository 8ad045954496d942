import type { Directive } from './parse.js';
import { quoteArg } from './parse.js';

type Kind = 'translated-with-difference' | 'unsupported' | 'meaningless';

interface Entry {
  readonly d: Directive;
  readonly kind: Kind;
  readonly why: string;
}

// Long arguments (a regex, a CSP header) would push the verdict off screen.
const MAX_SHOWN = 72;

/**
 * What `gatehouse import nginx` could not carry over exactly, one line per directive:
 * `FILE:LINE  directive  translated-with-difference|unsupported  why`. Directives that mean
 * nothing to Gatehouse are listed once per name and do not change the exit code.
 */
export class ImportReport {
  readonly #entries: Entry[] = [];
  readonly #seen = new Set<string>();
  readonly #meaninglessNames = new Set<string>();

  /** Translated, but Gatehouse behaves differently here; `why` says how. */
  difference(d: Directive, why: string): void {
    this.#add({ d, kind: 'translated-with-difference', why });
  }

  /** Not translated: the imported config lacks what this directive did. */
  unsupported(d: Directive, why: string): void {
    this.#add({ d, kind: 'unsupported', why });
  }

  /** No meaning for Gatehouse (worker tuning, pid files, temp paths …): listed once per name. */
  meaningless(d: Directive, why = 'no meaning for Gatehouse'): void {
    if (this.#meaninglessNames.has(d.name)) return;
    this.#meaninglessNames.add(d.name);
    this.#add({ d, kind: 'meaningless', why });
  }

  #add(e: Entry): void {
    const key = `${e.d.file}\0${e.d.line}\0${e.d.col}\0${e.d.name}\0${e.kind}\0${e.why}`;
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    this.#entries.push(e);
  }

  /** Whether `d` already has a line (so a later pass does not report it twice). */
  mentions(d: Directive): boolean {
    return this.#entries.some((e) => e.d === d);
  }

  /** Whether some directive was left out (what makes the exit code 1). */
  hasUnsupported(): boolean {
    return this.#entries.some((e) => e.kind === 'unsupported');
  }

  /** The report, in file order (by file name, then line and column). */
  lines(): string[] {
    return [...this.#entries]
      .sort((a, b) => (a.d.file < b.d.file ? -1 : a.d.file > b.d.file ? 1 : a.d.line - b.d.line || a.d.col - b.d.col))
      .map((e) => `${e.d.file}:${e.d.line}  ${shown(e.d)}  ${e.kind}  ${e.why}`);
  }

  /** 0 when everything that affects behaviour was translated, 1 when something was not. */
  exitCode(): 0 | 1 {
    return this.hasUnsupported() ? 1 : 0;
  }
}

function shown(d: Directive): string {
  // As the user wrote it, quoted only where a space or an empty argument would hide a word.
  const text = [d.name, ...d.args].map((a) => (a === '' || /\s/.test(a) ? quoteArg(a) : a)).join(' ');
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN - 1)}…` : text;
}
