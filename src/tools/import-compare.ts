import { resolve } from 'node:path';
import type { CommandResult } from './command.js';
import type { CompareInput as ImportedInput } from './import-nginx.js';
import { readNginx } from '../import/nginx/parse.js';
import { compareImport, confDirOf } from '../import/nginx/compare/compare.js';

/**
 * `gatehouse import nginx FILE… --compare`: after the import, run both and diff them. The diff
 * follows the import's report on stderr (stdout keeps the YAML alone). Exit code: 2 when nginx is
 * missing or will not run the original, else 1 when the import or the diff has a counted problem.
 */
export async function compareCommand(input: ImportedInput): Promise<CommandResult> {
  const { result } = input;
  const report = (text: string): string => [result.stderr, text].filter((s) => s !== '').join('\n');
  const options = input.prefix === undefined ? {} : { prefix: input.prefix };
  try {
    const outcome = await compareImport({
      directives: input.files.flatMap((f) => readNginx(f, options)),
      confDir: confDirOf(input.files[0] ?? '.', input.prefix),
      yaml: input.yaml,
      yamlFile: resolve(input.out ?? 'gatehouse.yaml'),
    });
    const code = outcome.code === 2 ? 2 : Math.max(result.code, outcome.code);
    return { code, stdout: result.stdout, stderr: report(outcome.code === 2 ? `gatehouse import: ${outcome.text}` : outcome.text) };
  } catch (err) {
    // The original must run under this nginx for a comparison to mean anything (a module it lacks, a file only the real host has).
    return { code: 2, stdout: result.stdout, stderr: report(`gatehouse import: --compare could not run the original: ${(err as Error).message}`) };
  }
}
