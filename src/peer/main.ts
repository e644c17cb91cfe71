// The peer program: runs on a host under test (`ip netns exec NS node dist/src/peer/main.js`) and is
// driven over stdio with JSON lines. It exits when stdin closes, so it dies with its parent even when
// the parent is SIGKILLed, and it closes every socket it owns on the way out.
import { createInterface } from 'node:readline';
import { PeerServer } from './server.js';

const server = new PeerServer();
const rl = createInterface({ input: process.stdin, terminal: false });

rl.on('line', (line) => {
  if (line.trim() === '') return;
  let req: unknown;
  try {
    req = JSON.parse(line);
  } catch {
    process.stdout.write(JSON.stringify({ id: -1, ok: false, code: 'EBADREQUEST', message: 'not a JSON line' }) + '\n');
    return;
  }
  // Calls are synchronous (poll timeouts), so requests are answered strictly in order.
  process.stdout.write(JSON.stringify(server.handle(req)) + '\n');
});
rl.on('close', () => {
  server.closeAll();
  process.exit(0);
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    server.closeAll();
    process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
  });
}
