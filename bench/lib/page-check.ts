/** What the database says a list page must hold: its ids in order and the total (for the summary, the total only). */
export interface Expected {
  ids: string[];
  total: number;
}

/** What is wrong with an answer, or undefined when it holds exactly what the database says. */
export function checkAnswer(kind: 'list' | 'summary', expected: Expected, text: string): string | undefined {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return `not JSON: ${text.slice(0, 200)}`;
  }
  if (kind === 'summary') {
    return body.total_certificates === expected.total ? undefined : `total_certificates is ${String(body.total_certificates)}, the database has ${expected.total}`;
  }
  if (!Array.isArray(body.data)) return 'no data array';
  if (body.total !== expected.total) return `total is ${String(body.total)}, the database counts ${expected.total}`;
  const ids = (body.data as Array<{ id?: unknown }>).map((item) => item.id);
  if (ids.length !== expected.ids.length) return `${ids.length} items, the database has ${expected.ids.length} for this page`;
  const at = ids.findIndex((id, i) => id !== expected.ids[i]);
  return at === -1 ? undefined : `item ${at} is ${String(ids[at])}, the database has ${expected.ids[at]} there`;
}

