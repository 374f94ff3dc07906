import fs from 'node:fs/promises';
import path from 'node:path';

/** A file of a built page, ready to send. */
export interface StaticFile {
  readonly body: Buffer;
  readonly headers: Readonly<Record<string, string>>;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The pages run their own script and styles only, and are never framed: a page that drives a till or an
 * owner's account must not be embedded by another site.
 */
const PAGE_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
} as const;

/**
 * The file of a built single-page app (a Vite `dist` folder) for a URL path: the file itself, or the app's
 * `index.html` for a path that names no file and has no extension (a screen of the app, such as
 * `/jobs/0193…`, so a reload stays on it). Null when there is nothing to send: a missing asset, or a path
 * that leaves the folder. Built assets (`/assets/…`) carry a hash in their names, so they are cached for good;
 * `index.html` is always checked again, so a new build shows at the next load.
 *
 * Used by the server for the owner's dashboard and by the device agent for the device's page.
 */
export async function readStaticFile(root: string, urlPath: string): Promise<StaticFile | null> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath.split('?')[0] ?? '/');
  } catch {
    return null;
  }
  if (decoded.includes('\0')) return null;
  const base = path.resolve(root);
  const wanted = path.resolve(base, `.${path.posix.normalize(`/${decoded}`)}`);
  if (wanted !== base && !wanted.startsWith(base + path.sep)) return null;
  const file = (await isFile(wanted))
    ? wanted
    : path.extname(wanted) === ''
      ? path.join(base, 'index.html')
      : null;
  if (file === null || !(await isFile(file))) return null;
  const immutable = path.relative(base, file).startsWith(`assets${path.sep}`);
  return {
    body: await fs.readFile(file),
    headers: {
      ...PAGE_HEADERS,
      'content-type': CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
      'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    },
  };
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await fs.stat(file)).isFile();
  } catch {
    return false;
  }
}
