import { useCallback } from 'react';
import { useSearchParams } from 'react-router';

/**
 * Filters, sort and page live in the URL, so a filtered list can be shared and survives a reload. Changing a
 * filter goes back to page 1.
 */
export function useUrlState<K extends string>(keys: readonly K[]) {
  const [params, setParams] = useSearchParams();
  const values = Object.fromEntries(keys.map((k) => [k, params.get(k) ?? ''])) as Record<K, string>;
  const set = useCallback(
    (changes: Partial<Record<K | 'page', string | number | undefined>>) => {
      setParams((current) => {
        const next = new URLSearchParams(current);
        for (const [k, v] of Object.entries(changes)) {
          if (v === undefined || v === '') next.delete(k);
          else next.set(k, String(v));
        }
        if (!('page' in changes)) next.delete('page');
        return next;
      });
    },
    [setParams],
  );
  const page = Math.max(1, Number(params.get('page') ?? '1') || 1);
  return { values, page, set };
}
