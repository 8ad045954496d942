/** A command line that cannot be run as given: cli.ts prints it with the usage text and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** What a tool command wants printed and its exit code; cli.ts does the printing and the exiting. */
export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}
