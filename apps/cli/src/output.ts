export type OutputFormat = 'table' | 'json';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'json'];

/** Where a command writes: stdout for results, stderr for progress and errors. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** Whether stderr is a terminal (a progress bar redraws in place there, and prints lines otherwise). */
  errIsTty: boolean;
  /** Asks on stderr and reads one line of stdin; null when stdin ends first (nobody there to answer). */
  ask(question: string): Promise<string | null>;
}

export interface Column<T> {
  header: string;
  value: (row: T) => unknown;
}

/** A plain-text table: a header, then one line per row, columns padded to their widest cell. */
export function renderTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((row) => columns.map((c) => cellText(c.value(row))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((line) => line[i].length)));
  const format = (line: string[]) => line.map((cell, i) => (i === line.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ').trimEnd();
  return [format(columns.map((c) => c.header)), ...cells.map(format)].join('\n');
}

/** A record as `field  value` lines, for `get` commands. */
export function renderRecord(record: Record<string, unknown>): string {
  const entries = Object.entries(record).filter(([, value]) => value !== undefined);
  const width = Math.max(0, ...entries.map(([key]) => key.length));
  return entries.map(([key, value]) => `${key.padEnd(width)}  ${cellText(value)}`).join('\n');
}

/** Missing values as "-", dates as "YYYY-MM-DD HH:MM", lists comma-separated, objects as compact JSON. */
export function cellText(value: unknown): string {
  if (value === undefined || value === null || value === '') return '-';
  if (Array.isArray(value)) return value.length ? value.map(cellText).join(',') : '-';
  if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(value)) return value.slice(0, 16).replace('T', ' ');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value).replace(/[\r\n\t]+/g, ' ');
}

export function printJson(io: Io, value: unknown): void {
  io.out(`${JSON.stringify(value, null, 2)}\n`);
}

/** A list page: JSON prints the api's envelope as is; a table adds a footer with the total. */
export function printPage<T>(io: Io, format: OutputFormat, page: { data: T[]; total: number; page?: number; per_page?: number }, columns: readonly Column<T>[], noun: string): void {
  if (format === 'json') return printJson(io, page);
  if (page.data.length) io.out(`${renderTable(page.data, columns)}\n`);
  const shown = page.data.length < page.total && page.page !== undefined ? ` (page ${page.page}, ${page.per_page ?? page.data.length} per page)` : '';
  io.out(`${page.total} ${noun}${page.total === 1 ? '' : 's'}${shown}\n`);
}
