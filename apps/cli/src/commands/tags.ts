import { InvalidArgumentError } from 'commander';

/** commander parser for one `--tag key=value`. */
export function tagOf(value: string): Record<string, string> {
  const at = value.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError('must be key=value');
  return { [value.slice(0, at).trim()]: value.slice(at + 1).trim() };
}
