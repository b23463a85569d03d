import type { Io } from './output';

/**
 * A progress bar on stderr for `--wait`: redrawn in place on a terminal, one line per change otherwise (so a
 * log or a CI job shows each step without control characters).
 */
export class ProgressBar {
  private lastLine = '';

  constructor(private readonly io: Io, private readonly width = 30) {}

  update(done: number, total: number, detail = ''): void {
    const ratio = total > 0 ? Math.min(1, done / total) : 1;
    const filled = Math.round(ratio * this.width);
    const line = `[${'#'.repeat(filled)}${'.'.repeat(this.width - filled)}] ${done}/${total} ${Math.floor(ratio * 100)}%${detail ? ` ${detail}` : ''}`;
    if (line === this.lastLine) return;
    this.lastLine = line;
    this.io.err(this.io.errIsTty ? `\r\x1b[2K${line}` : `${line}\n`);
  }

  /** Ends the redrawn line so what follows starts on its own. */
  finish(): void {
    if (this.io.errIsTty && this.lastLine) this.io.err('\n');
  }
}
