/**
 * One Vite configuration shape for both apps: each app builds on its own into web/dist/<app>, with a
 * relative base and hash routing, so the same build is served under /checkout/ and /console/ by the
 * local API server and at the root of its Firebase Hosting site when deployed.
 */
import { fileURLToPath } from 'node:url';
import vue from '@vitejs/plugin-vue';
import { defineConfig, type UserConfig } from 'vite';

export function appConfig(app: 'checkout' | 'console'): UserConfig {
  const webRoot = fileURLToPath(new URL('..', import.meta.url));
  return defineConfig({
    root: `${webRoot}${app}`,
    base: './',
    plugins: [vue()],
    resolve: {
      alias: {
        // The backend's generated protobuf types and pure domain code, shared, never re-declared.
        '@gen': fileURLToPath(new URL('../../functions/src/gen', import.meta.url)),
        '@domain': fileURLToPath(new URL('../../functions/src/domain', import.meta.url)),
        '@shared': fileURLToPath(new URL('.', import.meta.url)),
      },
    },
    build: {
      outDir: `${webRoot}dist/${app}`,
      emptyOutDir: true,
      // Budgets are enforced by a test over the gzipped output (checkout 120 KB, console 350 KB).
      chunkSizeWarningLimit: 1024,
      sourcemap: true,
    },
    logLevel: 'warn',
  });
}
