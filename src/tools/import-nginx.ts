import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { formatProblem, parseConfig } from '../config/load.js';
import { emitYaml } from '../import/nginx/emit.js';
import { ImportError, readNginx, type Directive } from '../import/nginx/parse.js';
import { translateNginx, type Translation } from '../import/nginx/translate.js';
import { UsageError, type CommandResult, type FlagsOf } from './command.js';

/** `gatehouse import nginx` flags (node:util parseArgs). */
export const IMPORT_OPTIONS = {
  out: { type: 'string', short: 'o' },
  prefix: { type: 'string', short: 'p' },
  compare: { type: 'boolean' },
} as const;

export type ImportFlags = FlagsOf<typeof IMPORT_OPTIONS>;

/** What `--compare` gets once the import is written (branch import-compare plugs its runner in here). */
export interface CompareInput {
  readonly files: readonly string[];
  readonly prefix: string | undefined;
  readonly yaml: string;
  /** Where the YAML was written; undefined when it went to stdout. */
  readonly out: string | undefined;
  readonly translation: Translation;
  /** The import's own result: its report on stderr and exit code, for the hook to extend. */
  readonly result: CommandResult;
}

export type CompareHook = (input: CompareInput) => Promise<CommandResult>;

/**
 * `gatehouse import nginx FILE… [--out FILE] [--prefix DIR]`: the YAML on stdout (or --out), the
 * report on stderr; exit 0 when everything that matters was translated, 1 when not, 2 on a usage
 * or parse error (FILE:LINE:COL).
 */
export async function importNginxCommand(flags: ImportFlags, positionals: readonly string[], compare?: CompareHook): Promise<CommandResult> {
  const [kind, ...files] = positionals;
  if (kind !== 'nginx') throw new UsageError(kind === undefined ? 'import needs a source: gatehouse import nginx FILE…' : `cannot import "${kind}" (only nginx)`);
  if (files.length === 0) throw new UsageError('import nginx needs the nginx config file(s)');
  if (flags.compare === true && compare === undefined) throw new UsageError('--compare is not available in this build');
  let ds: Directive[];
  try {
    ds = files.flatMap((f) => readNginx(f, flags.prefix === undefined ? {} : { prefix: flags.prefix }));
  } catch (err) {
    if (err instanceof ImportError) return { code: 2, stdout: '', stderr: `gatehouse import: ${err.where()}` };
    throw err;
  }
  const translation = translateNginx(ds);
  const yaml = emitYaml(translation, files);
  const lines = translation.report.lines();
  // The import must load with Gatehouse's own loader; if it does not, that is the import's fault and said so.
  const target = flags.out ?? resolve('gatehouse.yaml');
  const problems = parseConfig(yaml, target).problems.filter((p) => p.severity === 'error');
  for (const p of problems) lines.push(`gatehouse import: the generated config does not load: ${formatProblem(p)}`);
  const code = problems.length > 0 ? 1 : translation.report.exitCode();
  let stdout = yaml.replace(/\n$/, '');
  if (flags.out !== undefined) {
    writeFileSync(flags.out, yaml);
    stdout = '';
  }
  const result: CommandResult = { code, stdout, stderr: lines.join('\n') };
  if (flags.compare === true && compare !== undefined) return compare({ files, prefix: flags.prefix, yaml, out: flags.out, translation, result });
  return result;
}
