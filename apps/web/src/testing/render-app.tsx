import { QueryClient } from '@tanstack/react-query';
import { render } from '@testing-library/react';
import { MemoryRouter, useLocation } from 'react-router';
import { App } from '../App';
import { setApiBaseUrl, storeApiKey } from '../api/client';
import { Providers } from '../providers';

/** Where the router is, for assertions on redirects. */
export const location = { current: '' };
function LocationProbe() {
  const l = useLocation();
  location.current = l.pathname + l.search;
  return null;
}

/** The whole console at `path`, against the api at `apiUrl`, signed in with `key` (or signed out). */
export function renderApp(path: string, apiUrl: string, key: string | null) {
  setApiBaseUrl(apiUrl);
  sessionStorage.clear();
  storeApiKey(key);
  const client = new QueryClient({ defaultOptions: { queries: { retry: false, staleTime: 0 } } });
  return render(
    <MemoryRouter initialEntries={[path]}>
      <Providers client={client}>
        <LocationProbe />
        <App />
      </Providers>
    </MemoryRouter>,
  );
}

/**
 * Every request the console makes, as "METHOD url", recorded around the real fetch (nothing is answered for
 * it), so a test can check exactly what a button sent.
 */
export function recordRequests(): { calls: string[]; restore(): void } {
  const realFetch = globalThis.fetch;
  const calls: string[] = [];
  globalThis.fetch = (input: RequestInfo | URL, init?: RequestInit) => {
    calls.push(`${init?.method ?? 'GET'} ${String(input)}`);
    return realFetch(input, init);
  };
  return { calls, restore: () => (globalThis.fetch = realFetch) };
}
