/// <reference types="svelte" />
/// <reference types="vite/client" />

// pdf.js worker module, loaded on the main thread (PdfPages.svelte).
declare module "pdfjs-dist/build/pdf.worker.min.mjs" {
  export const WorkerMessageHandler: unknown;
}
