import { defineConfig } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";

// Tauri serves the built `dist/`; the dev server is only for `npm run dev`.
export default defineConfig({
  plugins: [svelte()],
  clearScreen: false,
  server: { port: 1420, strictPort: true },
  build: {
    target: "es2022",
    // No inline assets: the CSP allows only 'self'.
    assetsInlineLimit: 0,
    // One script, no chunks fetched later: WebKitGTK served a lazily loaded chunk
    // (pdf.js) as text/html now and then, and the PDF preview failed until a restart.
    rolldownOptions: { output: { codeSplitting: false } },
    // pdf.js makes the one script about 1.9 MB; it is read from the app itself.
    chunkSizeWarningLimit: 2500,
  },
  test: {
    environment: "jsdom",
    include: ["tests/unit/**/*.test.ts"],
    setupFiles: ["tests/unit/setup.ts"],
  },
  resolve: process.env.VITEST ? { conditions: ["browser"] } : undefined,
});
