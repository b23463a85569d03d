import { describe, expect, it } from 'vitest';
import { debianPackagesFor } from './peers';

describe('skip messages name installable Debian packages', () => {
  it('maps binaries to the packages that ship them, each package once', () => {
    expect(debianPackagesFor(['sshd', 'ssh-keygen'])).toEqual(['openssh-server', 'openssh-client']);
    expect(debianPackagesFor(['dovecot', 'doveadm', 'doveconf'])).toEqual(['dovecot-core']);
    expect(debianPackagesFor(['nginx', 'haproxy', 'caddy'])).toEqual(['nginx', 'haproxy', 'caddy']);
  });
});
