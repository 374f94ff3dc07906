import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where the built pages are (`apps/web/dist/<page>`, made by `npm run build -w @tillsync/web`, which
 * `npm install` runs), or null when they were not built: the server and the agent then answer their APIs
 * only. `TILLSYNC_WEB_DIR` points at another build's folder (one holding `device/` and `dashboard/`).
 * The command line finds them; the server and client packages know no page (they must not import the web).
 */
export function webAssetsDir(page: 'device' | 'dashboard'): string | null {
  const root =
    process.env.TILLSYNC_WEB_DIR ??
    // packages/cli/src and packages/cli/dist are both three levels below the checkout.
    path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../apps/web/dist');
  const dir = path.join(root, page);
  return fs.existsSync(path.join(dir, 'index.html')) ? dir : null;
}

/** A line for a person when the pages were not built. */
export const PAGES_NOT_BUILT =
  'the pages are not built (run "npm run build -w @tillsync/web"); serving the API only';
