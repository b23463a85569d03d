import type { ReactNode } from 'react';

/** Loading, error and empty states of a list or panel, the same on every page. */
export function QueryState({ isLoading, error, isEmpty, empty, children }: {
  isLoading: boolean;
  error: unknown;
  isEmpty?: boolean;
  empty?: ReactNode;
  children: ReactNode;
}) {
  if (isLoading) return <p className="state" role="status">Loading…</p>;
  if (error) return <p className="state state-error" role="alert">Could not load: {error instanceof Error ? error.message : String(error)}</p>;
  if (isEmpty) return <p className="state state-empty">{empty ?? 'Nothing here yet.'}</p>;
  return <>{children}</>;
}

export function Pager({ page, perPage, total, onPage }: { page: number; perPage: number; total: number; onPage(page: number): void }) {
  const pages = Math.max(1, Math.ceil(total / perPage));
  return (
    <nav className="pager" aria-label="Pagination">
      <button type="button" onClick={() => onPage(page - 1)} disabled={page <= 1} aria-label="Previous page">
        ‹ Previous
      </button>
      <span>
        Page {page} of {pages} · {total.toLocaleString()} total
      </span>
      <button type="button" onClick={() => onPage(page + 1)} disabled={page >= pages} aria-label="Next page">
        Next ›
      </button>
    </nav>
  );
}
