import { useCallback, useEffect, useRef, useState } from 'react';
import { useSearchParams } from 'react-router';

/**
 * Filters, sort and page live in the URL, so a filtered list can be shared and survives a reload. Changing a
 * filter goes back to page 1. `replace` changes the current history entry instead of adding one (typed filters).
 */
export function useUrlState<K extends string>(keys: readonly K[]) {
  const [params, setParams] = useSearchParams();
  // React Router hands a setSearchParams updater the params of the last render, so a second change made before that
  // render (Status, then Issuer, quickly) would drop the first: each change starts from the last one made instead.
  const latest = useRef(params);
  const rendered = useRef(params);
  if (rendered.current !== params) {
    rendered.current = params;
    latest.current = params;
  }
  const values = Object.fromEntries(keys.map((k) => [k, params.get(k) ?? ''])) as Record<K, string>;
  const set = useCallback(
    (changes: Partial<Record<K | 'page', string | number | undefined>>, options: { replace?: boolean } = {}) => {
      const next = new URLSearchParams(latest.current);
      for (const [k, v] of Object.entries(changes)) {
        if (v === undefined || v === '') next.delete(k);
        else next.set(k, String(v));
      }
      if (!('page' in changes)) next.delete('page');
      latest.current = next;
      setParams(next, { replace: options.replace });
    },
    [setParams],
  );
  const page = Math.max(1, Number(params.get('page') ?? '1') || 1);
  return { values, page, set };
}

/** How long typing pauses before a typed filter is applied. */
export const TYPING_DEBOUNCE_MS = 300;

/**
 * A typed filter: the input follows every key, the URL (and so the request) only once typing pauses, and it
 * replaces the current history entry, so "production" is one request and Back leaves the page, not a letter.
 */
export function useTypedFilter(urlValue: string, apply: (value: string) => void): [string, (value: string) => void] {
  const [text, setText] = useState(urlValue);
  // Back/Forward or a link changes the URL: the input follows it.
  useEffect(() => setText(urlValue), [urlValue]);
  useEffect(() => {
    if (text === urlValue) return;
    const timer = setTimeout(() => apply(text), TYPING_DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [text, urlValue, apply]);
  return [text, setText];
}
