/**
 * In-process mutexes keyed by name (a destination path, a target id): waiters queue in arrival order.
 * Names are always taken in sorted order, so two plans that share destinations cannot deadlock.
 */
const tails = new Map<string, Promise<void>>();

async function lockOne(name: string): Promise<() => void> {
  const previous = tails.get(name) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => (release = resolve));
  const tail = previous.then(() => mine);
  tails.set(name, tail);
  await previous;
  return () => {
    release();
    // The last holder cleans up, so the map does not grow with every path ever deployed.
    if (tails.get(name) === tail) tails.delete(name);
  };
}

export async function lockAll(names: string[]): Promise<() => void> {
  const releases: Array<() => void> = [];
  for (const name of [...new Set(names)].sort()) releases.push(await lockOne(name));
  return () => releases.reverse().forEach((r) => r());
}

/** Locks held across processes (the orchestrator passes a Redis lock); returns the release function. */
export type CrossProcessLock = (names: string[]) => Promise<() => Promise<void>>;
