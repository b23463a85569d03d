import { Fragment, type ReactNode } from 'react';
import { Link } from 'react-router';
import { ApiRequestError } from '../api/client';

/** Config values that look secret are never echoed (the API masks them; this is a second guard). */
const SECRET_KEY = /key|secret|password|token|hmac/i;

export function isNotFound(error: unknown): boolean {
  return error instanceof ApiRequestError && error.status === 404;
}

/** A detail page's frame: the way back, and one plain sentence when the id is unknown (no panel asks then). */
export function DetailFrame({ back, backLabel, titleId, notFound, kind, id, children }: {
  back: string;
  backLabel: string;
  titleId: string;
  notFound: boolean;
  kind: string;
  id: string;
  children: ReactNode;
}) {
  return (
    <section aria-labelledby={titleId}>
      <p><Link to={back}>‹ {backLabel}</Link></p>
      {notFound ? (
        <>
          <h1 id={titleId}>{kind[0]!.toUpperCase() + kind.slice(1)} not found</h1>
          <p className="state state-error" role="alert">
            There is no {kind} with the id <span className="mono">{id}</span>. It may have been deleted, or the link is mistyped.
          </p>
        </>
      ) : (
        children
      )}
    </section>
  );
}

/** A JSON config as a definition list, secrets masked. */
export function ConfigList({ config, testId }: { config?: Record<string, unknown> | null; testId?: string }) {
  const entries = Object.entries(config ?? {});
  if (!entries.length) return <p className="muted">No configuration.</p>;
  return (
    <dl className="card overview" data-testid={testId}>
      {entries.map(([k, v]) => (
        <Fragment key={k}>
          <dt>{k}</dt>
          <dd className="mono">{SECRET_KEY.test(k) && v ? '••••••' : typeof v === 'object' ? JSON.stringify(v) : String(v)}</dd>
        </Fragment>
      ))}
    </dl>
  );
}
