import { join, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CommandError, runCommand, useCommandSpawner } from '@certctl/deploy';
import { useTestDeployPolicy } from '@certctl/testing';
import { CommandHelper } from './command-helper';

// The helper's TypeScript source, run by plain node through the swc hook the e2e harnesses use.
const SWC_REGISTER = resolve(__dirname, '..', '..', '..', '..', '..', 'test', 'support', 'swc-register.cjs');
const helperFromSource = () => new CommandHelper(join(__dirname, 'command-helper.child.ts'), ['-r', SWC_REGISTER]);

describe('CommandHelper (commands forked from a helper process)', () => {
  let helper: CommandHelper | undefined;
  // The commands below, allowed the way an administrator would allow them.
  beforeAll(() => useTestDeployPolicy(['echo ...', 'cat /proc/self/stat', 'ls ...', 'sleep *', 'env', '/nonexistent/binary']));
  afterEach(() => {
    useCommandSpawner();
    helper?.close();
  });

  it('runs commands in the helper, with the same results and errors as execFile here', async () => {
    helper = helperFromSource();
    useCommandSpawner(helper.spawn);
    expect(await runCommand('echo {word} two', { placeholders: { word: 'one' } })).toBe('one two\n');
    expect(helper.pid).toBeGreaterThan(0);
    expect(helper.pid).not.toBe(process.pid);
    // The command's parent is the helper (field 4 of /proc/self/stat), not this process.
    const stat = await runCommand('cat /proc/self/stat');
    expect(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])).toBe(helper.pid);
    await expect(runCommand('sh -c "echo oops >&2; exit 3"')).rejects.toThrow(/refused command/);
    await expect(runCommand('false')).rejects.toThrow(/false: exited with status 1/);
    const failed = (await runCommand('ls /nonexistent-certctl-dir').then(() => undefined, (err: unknown) => err)) as CommandError;
    expect(failed.message).toBe('ls: exited with status 2');
    expect(failed.outputTail).toMatch(/nonexistent-certctl-dir/);
    await expect(runCommand('sleep 5', { timeoutMs: 200 })).rejects.toThrow(/timed out after 200 ms/);
    await expect(runCommand('/nonexistent/binary')).rejects.toThrow(/ENOENT/);
  });

  it('neither the helper nor its commands inherit this process\'s environment', async () => {
    process.env.CERTCTL_TEST_HELPER_CANARY = 'canary-secret-of-the-orchestrator';
    try {
      helper = helperFromSource();
      useCommandSpawner(helper.spawn);
      const env = await runCommand('env');
      expect(env).not.toContain('canary-secret-of-the-orchestrator');
      expect(env.trim().split('\n').map((line) => line.split('=')[0]).sort()).toEqual(['LANG', 'PATH']);
      const helperEnv = readFileSync(`/proc/${helper.pid}/environ`, 'utf8');
      expect(helperEnv).not.toContain('CERTCTL_');
    } finally {
      delete process.env.CERTCTL_TEST_HELPER_CANARY;
    }
  });

  it('a command the helper was running when it died is answered by running it here', async () => {
    helper = helperFromSource();
    useCommandSpawner(helper.spawn);
    await runCommand('true');
    const pid = helper.pid!;
    const running = runCommand('echo survived');
    process.kill(pid, 'SIGKILL');
    expect(await running).toBe('survived\n');
    // The next command starts a new helper.
    expect(await runCommand('echo again')).toBe('again\n');
    expect(helper.pid).not.toBe(pid);
  });

  it('after close, commands run in this process and the helper exits', async () => {
    helper = helperFromSource();
    useCommandSpawner(helper.spawn);
    await runCommand('true');
    const pid = helper.pid!;
    helper.close();
    expect(await runCommand('echo here')).toBe('here\n');
    await expect.poll(() => { try { process.kill(pid, 0); return true; } catch { return false; } }, { timeout: 5_000 }).toBe(false);
  });
});
