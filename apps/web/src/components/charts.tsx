import { useLayoutEffect, useRef, useState } from 'react';

/**
 * The dashboard's charts as plain SVG: a donut with a counted legend, and bars (stacked when there are several
 * series) or a line over days. A chart library cost the dashboard 130 KB gzip for these four; this is a few KB.
 * Each chart is an image with a name (role="img", <title>), every mark carries its value in a <title> (the hover
 * tooltip), and the numbers are also in a table for screen readers. Text and grid take the theme's colours.
 */

const HEIGHT = 240;
/** Room for the y axis' numbers on the left and the dates below. */
const MARGIN = { top: 10, right: 12, bottom: 26, left: 44 };
/** The least space between two date labels, in pixels (fewer labels rather than overlapping ones). */
const LABEL_GAP = 56;

/** The width the chart's box has now, followed as the layout changes (two columns, or one on a phone). */
function useWidth() {
  const ref = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(0);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    setWidth(el.clientWidth);
    const observer = new ResizeObserver(([entry]) => setWidth(Math.floor(entry!.contentRect.width)));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  return [ref, width] as const;
}

/** Whole-number axis steps (these are counts): 0 … a round top at or above `max`, about four steps. */
export function countTicks(max: number, steps = 4): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / steps;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = Math.max(1, [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw)!);
  const ticks: number[] = [];
  for (let t = 0; t < max + step; t += step) ticks.push(t);
  return ticks;
}

const fmt = (n: number) => n.toLocaleString();

export interface DonutSlice { name: string; value: number; colour: string }

/** A donut of parts of a whole, its total in the middle, and a legend that gives every part its count. */
export function DonutChart({ label, slices }: { label: string; slices: DonutSlice[] }) {
  const total = slices.reduce((s, d) => s + d.value, 0);
  const radius = 70;
  const stroke = 34;
  const circumference = 2 * Math.PI * radius;
  let offset = 0;
  return (
    <div className="chart-donut">
      <svg className="chart-surface" role="img" aria-label={label} width={200} height={200} viewBox="-100 -100 200 200">
        <title>{`${label}: ${slices.map((d) => `${d.name} ${fmt(d.value)}`).join(', ')}`}</title>
        {/* Each part is a dash of the same circle's stroke, starting at 12 o'clock and going clockwise. */}
        <g transform="rotate(-90)">
          {slices.map((d) => {
            const length = total ? (d.value / total) * circumference : 0;
            const arc = (
              <circle key={d.name} r={radius} fill="none" stroke={d.colour} strokeWidth={stroke}
                strokeDasharray={`${length} ${circumference - length}`} strokeDashoffset={-offset}>
                <title>{`${d.name}: ${fmt(d.value)}`}</title>
              </circle>
            );
            offset += length;
            return arc;
          })}
        </g>
        <text className="chart-total" textAnchor="middle" dominantBaseline="central">{fmt(total)}</text>
      </svg>
      <ul className="chart-legend">
        {slices.map((d) => (
          <li key={d.name}>
            <span className="chart-swatch" style={{ background: d.colour }} aria-hidden="true" />
            <span className="legend-text">{d.name} ({fmt(d.value)})</span>
          </li>
        ))}
      </ul>
    </div>
  );
}

export interface Series<Row> { key: keyof Row & string; name: string; colour: string }

/**
 * Counts per day: bars (the series stacked) or a line. `x` names each row's day; `tick` shortens it for the axis.
 * A legend is shown when there is more than one series.
 */
export function DayChart<Row extends object>({ label, kind, data, x, series, tick = (v) => v }: {
  label: string;
  kind: 'bars' | 'line';
  data: Row[];
  x: keyof Row & string;
  series: Array<Series<Row>>;
  tick?: (value: string) => string;
}) {
  const [box, width] = useWidth();
  const field = (row: Row, key: string) => (row as Record<string, unknown>)[key];
  const value = (row: Row, key: string) => Number(field(row, key) ?? 0);
  const tops = data.map((row) => (kind === 'bars' ? series.reduce((s, se) => s + value(row, se.key), 0) : Math.max(...series.map((se) => value(row, se.key)))));
  const ticks = countTicks(Math.max(0, ...tops));
  const yMax = ticks.at(-1)!;
  const plotWidth = Math.max(0, width - MARGIN.left - MARGIN.right);
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const band = data.length ? plotWidth / data.length : 0;
  const y = (v: number) => MARGIN.top + plotHeight - (v / yMax) * plotHeight;
  const xCentre = (i: number) => MARGIN.left + band * (i + 0.5);
  const labelEvery = Math.max(1, Math.ceil(LABEL_GAP / Math.max(band, 1)));
  const titleOf = (row: Row) => `${String(field(row, x))}: ${series.map((se) => `${se.name} ${fmt(value(row, se.key))}`).join(', ')}`;
  return (
    <div ref={box} className="chart-day">
      {width > 0 && (
        <svg className="chart-surface" role="img" aria-label={label} width={width} height={HEIGHT}>
          <title>{label}</title>
          {ticks.map((t) => (
            <g key={t}>
              <line className="chart-grid" x1={MARGIN.left} x2={MARGIN.left + plotWidth} y1={y(t)} y2={y(t)} />
              <text className="chart-tick" x={MARGIN.left - 6} y={y(t)} textAnchor="end" dominantBaseline="central">{fmt(t)}</text>
            </g>
          ))}
          {data.map((row, i) => i % labelEvery === 0 && (
            <text key={String(field(row, x))} className="chart-tick" x={xCentre(i)} y={HEIGHT - 8} textAnchor="middle">{tick(String(field(row, x)))}</text>
          ))}
          {kind === 'bars'
            ? data.map((row, i) => {
                let base = 0;
                return (
                  <g key={String(field(row, x))}>
                    <title>{titleOf(row)}</title>
                    {series.map((se) => {
                      const v = value(row, se.key);
                      const rect = v > 0 && (
                        <rect key={se.key} x={xCentre(i) - band * 0.4} width={Math.max(1, band * 0.8)} y={y(base + v)} height={y(base) - y(base + v)} fill={se.colour} />
                      );
                      base += v;
                      return rect;
                    })}
                  </g>
                );
              })
            : series.map((se) => (
                <g key={se.key}>
                  <polyline fill="none" stroke={se.colour} strokeWidth={2} points={data.map((row, i) => `${xCentre(i)},${y(value(row, se.key))}`).join(' ')} />
                  {/* Invisible columns over each day carry its value as a tooltip. */}
                  {data.map((row, i) => (
                    <rect key={String(field(row, x))} x={xCentre(i) - band / 2} width={band} y={MARGIN.top} height={plotHeight} fill="transparent">
                      <title>{titleOf(row)}</title>
                    </rect>
                  ))}
                </g>
              ))}
        </svg>
      )}
      {series.length > 1 && (
        <ul className="chart-legend">
          {series.map((se) => (
            <li key={se.key}>
              <span className="chart-swatch" style={{ background: se.colour }} aria-hidden="true" />
              <span className="legend-text">{se.name}</span>
            </li>
          ))}
        </ul>
      )}
      <table className="sr-only">
        <caption>{label}</caption>
        <thead>
          <tr>
            <th scope="col">Day</th>
            {series.map((se) => <th key={se.key} scope="col">{se.name}</th>)}
          </tr>
        </thead>
        <tbody>
          {data.map((row) => (
            <tr key={String(field(row, x))}>
              <th scope="row">{String(field(row, x))}</th>
              {series.map((se) => <td key={se.key}>{fmt(value(row, se.key))}</td>)}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
