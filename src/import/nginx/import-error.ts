/** A problem in the nginx configuration being imported, at the place nginx itself would name. */
export class ImportError extends Error {
  readonly code = 'IMPORT_PARSE';
  readonly file: string;
  readonly line: number;
  readonly col: number;

  constructor(file: string, line: number, col: number, message: string) {
    super(message);
    this.name = 'ImportError';
    this.file = file;
    this.line = line;
    this.col = col;
  }

  /** `FILE:LINE:COL message`, as `gatehouse check` prints its problems. */
  where(): string {
    return `${this.file}:${this.line}:${this.col} ${this.message}`;
  }
}
