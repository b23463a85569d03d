import { cleanup, render, screen, within } from '@testing-library/react';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { countTicks, DayChart, DonutChart } from './charts';

/** jsdom lays nothing out: the chart's box is given a width of 400 px, and ResizeObserver (absent there) a stand-in that never fires. */
const widthDescriptor = Object.getOwnPropertyDescriptor(HTMLElement.prototype, 'clientWidth');
beforeAll(() => {
  Object.defineProperty(HTMLElement.prototype, 'clientWidth', { configurable: true, get: () => 400 });
  globalThis.ResizeObserver ??= class { observe() {} unobserve() {} disconnect() {} } as unknown as typeof ResizeObserver;
});
afterAll(() => {
  if (widthDescriptor) Object.defineProperty(HTMLElement.prototype, 'clientWidth', widthDescriptor);
});
afterEach(cleanup);

describe('dashboard charts (own SVG)', () => {
  it('axis steps are whole, round numbers from 0 to at least the largest value', () => {
    expect(countTicks(0)).toEqual([0, 1]);
    expect(countTicks(3)).toEqual([0, 1, 2, 3]);
    expect(countTicks(7)).toEqual([0, 2, 4, 6, 8]);
    expect(countTicks(1234)).toEqual([0, 500, 1000, 1500]);
  });

  it('the donut is a named image and its legend gives each part its count', () => {
    render(<DonutChart label="Certificates by status" slices={[
      { name: 'Active', value: 1200, colour: '#2e7d32' }, { name: 'Revoked', value: 3, colour: '#8d6e63' },
    ]} />);
    const image = screen.getByRole('img', { name: 'Certificates by status' });
    expect(image.querySelectorAll('circle')).toHaveLength(2);
    expect(image.textContent).toContain('1,203'); // the total in the middle
    const items = screen.getAllByRole('listitem').map((li) => li.textContent);
    expect(items).toEqual(['Active (1,200)', 'Revoked (3)']);
  });

  it('stacked bars draw one mark per non-zero value, say each day\'s values, and give them again in a table', () => {
    const data = [
      { date: '2026-12-01', completed_count: 4, failed_count: 1 },
      { date: '2026-12-02', completed_count: 0, failed_count: 2 },
    ];
    render(<DayChart label="Jobs per day" kind="bars" data={data} x="date"
      series={[{ key: 'completed_count', name: 'Completed', colour: 'green' }, { key: 'failed_count', name: 'Failed', colour: 'red' }]} />);
    const image = screen.getByRole('img', { name: 'Jobs per day' });
    expect(image.querySelectorAll('rect')).toHaveLength(3);
    expect([...image.querySelectorAll('g > title')].map((t) => t.textContent)).toEqual([
      '2026-12-01: Completed 4, Failed 1', '2026-12-02: Completed 0, Failed 2',
    ]);
    // The tallest stack (5) fits under the top of the axis.
    expect([...image.querySelectorAll('.chart-tick')].map((t) => t.textContent)).toEqual(expect.arrayContaining(['0', '6']));
    expect(screen.getAllByRole('listitem').map((li) => li.textContent)).toEqual(['Completed', 'Failed']);
    const table = screen.getByRole('table', { name: 'Jobs per day' });
    expect(within(table).getAllByRole('row').map((r) => r.textContent)).toEqual(['DayCompletedFailed', '2026-12-0141', '2026-12-0202']);
  });

  it('a line over days passes through every day\'s value', () => {
    render(<DayChart label="Issued per day" kind="line" data={[{ d: 'a', n: 0 }, { d: 'b', n: 4 }]} x="d" series={[{ key: 'n', name: 'Issued', colour: 'blue' }]} />);
    const line = screen.getByRole('img', { name: 'Issued per day' }).querySelector('polyline')!;
    const points = line.getAttribute('points')!.split(' ').map((p) => p.split(',').map(Number));
    expect(points).toHaveLength(2);
    expect(points[1]![1]).toBeLessThan(points[0]![1]!); // 4 is drawn above 0
    expect(screen.queryByRole('list')).toBeNull(); // one series: no legend
  });
});
