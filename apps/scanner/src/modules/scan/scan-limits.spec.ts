import { describe, expect, it } from 'vitest';
import { Semaphore } from './scan-limits';

describe('Semaphore', () => {
  it('lets `limit` holders in and hands each released slot to the next waiter in order', async () => {
    const sem = new Semaphore(2);
    await sem.acquire();
    await sem.acquire();
    const order: number[] = [];
    const third = sem.acquire().then(() => order.push(3));
    const fourth = sem.acquire().then(() => order.push(4));
    await Promise.resolve();
    expect(order).toEqual([]);
    sem.release();
    await third;
    expect(order).toEqual([3]);
    expect(sem.inUse).toBe(2);
    sem.release();
    await fourth;
    sem.release();
    sem.release();
    expect(sem.inUse).toBe(0);
  });
});
