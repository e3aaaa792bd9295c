/**
 * The web console's build: `vite build web` (from the project root) bundles web/ into dist/web/,
 * which the service serves at `/` (src/http/console-routes.ts). Everything the page loads is in
 * that folder: no CDN, no network at run time.
 */
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

export default defineConfig({
  // Resolved against this folder (the root `vite build web` is given).
  base: '/',
  plugins: [preact({ prerender: { enabled: false } })],
  // Vite writes this placeholder as the nonce of the tags it emits and of a
  // `<meta property="csp-nonce">`; the service puts a fresh nonce in its place in every answer, and
  // CodeMirror sets that nonce on the <style> elements it injects (EditorView.cspNonce).
  html: { cspNonce: 'LAMBDA_CSP_NONCE' },
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    // Chromium of this decade: no polyfill script for module preload.
    modulePreload: { polyfill: false },
    target: 'es2022',
    // CodeMirror and its five languages are most of the bundle; one file is cached as long as it does not change.
    chunkSizeWarningLimit: 1200,
    reportCompressedSize: false,
  },
});
