import { defineConfig } from 'vitest/config';

// The hub serves the build from frontend/dist; `npm run dev` proxies the
// API to a hub on :8004 (add http://localhost:5173 to
// TUBEMAIL_ALLOWED_ORIGINS, the hub's default).
export default defineConfig({
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: {
      '/api': { target: 'http://127.0.0.1:8004', changeOrigin: false },
      '/health': 'http://127.0.0.1:8004',
      '/ws': { target: 'ws://127.0.0.1:8004', ws: true },
    },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
