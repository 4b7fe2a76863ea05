// The app is plain JSX and CSS, which vite transforms without plugins.
import { defineConfig } from 'vite';

export default defineConfig({
  // Backstage's fetch API reads `global.fetch`; browsers only have globalThis.
  define: { global: 'globalThis' },
  logLevel: 'warn',
  build: {
    chunkSizeWarningLimit: 8000,
    reportCompressedSize: false,
    rolldownOptions: {
      onwarn(warning, warn) {
        // MUI's "use client" directives mean nothing in a client-only bundle.
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE') return;
        warn(warning);
      },
    },
  },
});
