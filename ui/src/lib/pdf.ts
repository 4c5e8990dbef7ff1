// pdf.js on bytes in memory (nothing on disk): one parsed document per byte array,
// shared by the page view and the page strip.
import type { PDFDocumentProxy } from "pdfjs-dist";

const documents = new WeakMap<Uint8Array, Promise<PDFDocumentProxy>>();

export function openPdf(bytes: Uint8Array): Promise<PDFDocumentProxy> {
  let doc = documents.get(bytes);
  if (!doc) {
    doc = (async () => {
      const pdfjs = await import("pdfjs-dist");
      // pdf.js and its worker module are part of the app's one script (no chunk is
      // fetched later, see vite.config.ts) and the worker runs on the main thread. A
      // separately fetched file came back as text/html now and then in WebKitGTK, and
      // pdf.js then refused every PDF until a restart.
      const g = globalThis as { pdfjsWorker?: unknown };
      if (!g.pdfjsWorker) g.pdfjsWorker = await import("pdfjs-dist/build/pdf.worker.min.mjs");
      // pdf.js takes ownership of the buffer it gets: hand it a copy.
      return pdfjs.getDocument({ data: bytes.slice() }).promise;
    })();
    documents.set(bytes, doc);
    doc.catch(() => documents.delete(bytes));
  }
  return doc;
}

// pdf.js runs its worker on the main thread here (see openPdf). Two drawings of the same
// page at once – the QA desk's page and its thumbnail – now and then never finished, and
// the thumbnail stayed empty. Pages are drawn one after another.
let drawing: Promise<unknown> = Promise.resolve();

/** Page `n` (1-based) drawn into a new canvas at `scale` (after any drawing under way). */
export function drawPage(pdf: PDFDocumentProxy, n: number, scale: number): Promise<HTMLCanvasElement> {
  const mine = drawing.then(() => drawNow(pdf, n, scale));
  drawing = mine.catch(() => undefined);
  return mine;
}

async function drawNow(pdf: PDFDocumentProxy, n: number, scale: number): Promise<HTMLCanvasElement> {
  const page = await pdf.getPage(n);
  const viewport = page.getViewport({ scale });
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.floor(viewport.width));
  canvas.height = Math.max(1, Math.floor(viewport.height));
  const ctx = canvas.getContext("2d");
  if (ctx) await page.render({ canvas, canvasContext: ctx, viewport }).promise;
  return canvas;
}

/** Page `n` as a small PNG (a blob URL; the caller revokes it), `width` pixels wide. */
export async function thumbnailUrl(pdf: PDFDocumentProxy, n: number, width: number): Promise<string> {
  const page = await pdf.getPage(n);
  const natural = page.getViewport({ scale: 1 }).width || width;
  const canvas = await drawPage(pdf, n, width / natural);
  const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, "image/png"));
  if (!blob) throw new Error(`Seite ${n} ließ sich nicht verkleinern`);
  return URL.createObjectURL(blob);
}
