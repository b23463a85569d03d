import { readFileSync } from 'node:fs';

/** A user or group given as a name or a numeric id. */
export type Principal = string | number;

function lookup(file: string, name: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name && fields[2] !== undefined) return Number(fields[2]);
  }
  return undefined;
}

/** Node has no getpwnam: names are looked up in /etc/passwd and /etc/group (numeric ids pass through). */
export function resolveUid(user: Principal): number | undefined {
  if (typeof user === 'number') return user;
  return /^\d+$/.test(user) ? Number(user) : lookup('/etc/passwd', user);
}

export function resolveGid(group: Principal): number | undefined {
  if (typeof group === 'number') return group;
  return /^\d+$/.test(group) ? Number(group) : lookup('/etc/group', group);
}

/** The first of several candidate users that exists here (e.g. nginx, then www-data), else undefined. */
export function firstExistingUser(candidates: string[]): string | undefined {
  return candidates.find((c) => resolveUid(c) !== undefined);
}

/** The first of several candidate groups that exists here, else undefined. */
export function firstExistingGroup(candidates: string[]): string | undefined {
  return candidates.find((c) => resolveGid(c) !== undefined);
}
