import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { ReactNode, useState } from 'react';
import { ApiRequestError } from './api/client';
import { SessionProvider } from './auth/session';
import { ToastProvider } from './components/toasts';

/** Server state (TanStack Query), the signed-in session and toasts; shared by the app and its tests. */
export function Providers({ children, client }: { children: ReactNode; client?: QueryClient }) {
  const [queryClient] = useState(
    () =>
      client ??
      new QueryClient({
        defaultOptions: {
          queries: {
            staleTime: 5_000,
            // A client mistake or a missing key will not get better by asking again.
            retry: (count, err) => !(err instanceof ApiRequestError && err.status < 500) && count < 2,
            refetchOnWindowFocus: true,
          },
        },
      }),
  );
  return (
    <QueryClientProvider client={queryClient}>
      <SessionProvider>
        <ToastProvider>{children}</ToastProvider>
      </SessionProvider>
    </QueryClientProvider>
  );
}
