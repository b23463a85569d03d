import { describe, expect, it } from 'vitest';
import { cellText, renderRecord, renderTable } from './output';

describe('CLI output', () => {
  it('pads columns to their widest cell and trims trailing space', () => {
    const table = renderTable([{ id: 'mc-1', name: 'a' }, { id: 'mc-22', name: undefined }], [
      { header: 'ID', value: (r) => r.id }, { header: 'NAME', value: (r) => r.name },
    ]);
    expect(table).toBe('ID     NAME\nmc-1   a\nmc-22  -');
  });

  it('shows dates to the minute, lists comma-separated, missing as "-", and never a line break inside a cell', () => {
    expect(cellText('2026-12-02T12:34:56.789Z')).toBe('2026-12-02 12:34');
    expect(cellText(['a.example', 'b.example'])).toBe('a.example,b.example');
    expect(cellText([])).toBe('-');
    expect(cellText(null)).toBe('-');
    expect(cellText('line one\nline two')).toBe('line one line two');
    expect(renderRecord({ id: 'mc-1', status: 'Active', gone: undefined })).toBe('id      mc-1\nstatus  Active');
  });
});
