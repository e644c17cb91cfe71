import { defineConfig } from 'vitest/config';

// The VM slow lane (`npm run test:vm`): only test/vm/*.vm.ts, one file at a time; opt-in with TCPLAB_VM_E2E=1.
export default defineConfig({
  test: {
    include: ['test/vm/**/*.vm.ts'],
    testTimeout: 65 * 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
