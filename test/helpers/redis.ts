import { execFileSync } from 'node:child_process';
import { Redis } from 'ioredis';

/** The machine's Redis, started before every session and CI run. */
export const TEST_REDIS_URL = 'redis://127.0.0.1:6379';

async function canPing(): Promise<boolean> {
  const client = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** Makes sure the machine's Redis is running (as the developers' guide says: start it if it is down). */
export async function ensureRedis(): Promise<void> {
  if (await canPing()) return;
  execFileSync('redis-server', ['--daemonize', 'yes', '--bind', '127.0.0.1', '--port', '6379', '--save', '', '--appendonly', 'no'], { stdio: 'inherit' });
  for (let i = 0; i < 50 && !(await canPing()); i++) await new Promise((r) => setTimeout(r, 100));
  if (!(await canPing())) throw new Error(`Redis did not come up at ${TEST_REDIS_URL}`);
}
