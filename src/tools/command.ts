/** A command line that cannot be run as given: cli.ts prints it with the usage text and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The values node:util parseArgs gives for an options table: string or boolean per its `type`, each optional. */
export type FlagsOf<O extends Readonly<Record<string, { readonly type: 'string' | 'boolean' }>>> = {
  readonly [K in keyof O]?: (O[K]['type'] extends 'string' ? string : boolean) | undefined;
};

/** What a tool command wants printed and its exit code; cli.ts does the printing and the exiting. */
export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}
