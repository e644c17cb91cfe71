// The packetdrill lane (opt-in: it needs a packetdrill binary built as docs/packetdrill.md shows):
// `sudo TCPLAB_PACKETDRILL=/path/to/packetdrill npm run test:packetdrill`.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: { include: ['test/packetdrill/**/*.pd.ts'], testTimeout: 120_000, hookTimeout: 60_000, pool: 'forks' },
});
