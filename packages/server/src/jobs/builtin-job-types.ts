import type { RowValues } from '@tillsync/protocol';
import {
  defineSyncJobType,
  UnrecoverableJobError,
  type SourceChange,
  type SyncJobType,
} from '@tillsync/jobs';
import { v5 as uuidv5 } from 'uuid';

/** Where `daily_sales` ids come from: one id per day, the same on every server, so two jobs meet on one row. */
const DAILY_SALES_NAMESPACE = '3d0f2b52-5c1e-4b8e-9a55-6a6f0b7a1c11';

/** The UTC day (YYYY-MM-DD) of a sale's `created_at`, or null when it has none. */
export function saleDay(values: RowValues | null | undefined): string | null {
  const createdAt = values?.created_at;
  if (typeof createdAt !== 'string') return null;
  const ms = Date.parse(createdAt);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString().slice(0, 10);
}

/** The id of a day's `daily_sales` row; under a chain's schema, of a store's day (PROTOCOL.md §7). */
export function dailySalesId(day: string, storeId: string | null = null): string {
  return uuidv5(
    storeId === null ? `daily_sales:${day}` : `daily_sales:${storeId}:${day}`,
    DAILY_SALES_NAMESPACE,
  );
}

/** The store of a sale under a chain's schema (its `store_id`); null in a single shop's. */
function saleStore(values: Readonly<Record<string, unknown>> | null | undefined): string | null {
  const store = values?.['store_id'];
  return typeof store === 'string' ? store : null;
}

function shiftDay(day: string, days: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

/**
 * `sale-daily-sales` (single target, PROTOCOL.md §6): a sale inserted, updated or deleted on any device
 * recomputes the `daily_sales` row of its day on the server, which devices then pull. A sale moved to
 * another day recomputes both days: its trigger plans one job per day, each with the day in its context.
 * The day is recomputed from the sales themselves rather than adjusted by the one sale, so a retried or
 * repeated job gives the same row. Under a chain's schema (sales with a `store_id`) the row is a store's
 * day: one per store and day, of that store's sales, kept in that store's scope.
 */
export const saleDailySales = defineSyncJobType({
  name: 'sale-daily-sales',
  sourceTable: 'sales',
  targetTable: 'daily_sales',
  mode: 'single',
  triggers: ['insert', 'update', 'delete'],
  defaults: { queue: 'short' },
  planTrigger(change: SourceChange) {
    // A sale moved to another day or store recomputes both.
    const keys = new Map<string, { day: string; storeId: string | null }>();
    for (const values of [change.after, change.before]) {
      const day = saleDay(values);
      const storeId = saleStore(values);
      if (day !== null) keys.set(`${storeId ?? ''}|${day}`, { day, storeId });
    }
    return [...keys.values()].map(({ day, storeId }) => ({
      context: storeId === null ? { day } : { day, storeId },
      title: `sales ${change.id} > daily_sales ${storeId === null ? day : `${day} of store ${storeId}`}`,
    }));
  },
  async getTargetDocument(job, source) {
    const day = typeof job.context.day === 'string' ? job.context.day : saleDay(source?.values);
    if (day === null) return null;
    const storeId = typeof job.context.storeId === 'string' ? job.context.storeId : saleStore(source?.values);
    const context = storeId === null ? { day } : { day, storeId };
    const [existing] = await job.rows.find('daily_sales', {
      where: storeId === null ? { day } : { day, store_id: storeId },
      limit: 1,
    });
    return existing
      ? { operation: 'update', id: existing.id, context }
      : { operation: 'insert', id: dailySalesId(day, storeId), context };
  },
  async updateTargetDoc(job, _source, target) {
    const day = String(job.context.day);
    const storeId = typeof job.context.storeId === 'string' ? job.context.storeId : null;
    // created_at may carry an offset: fetch the days around and keep those whose UTC day it is.
    const around = { created_at: { gte: shiftDay(day, -1), lt: shiftDay(day, 2) } };
    const candidates = await job.rows.find('sales', {
      where: storeId === null ? around : { ...around, store_id: storeId },
      limit: 1_000_000,
    });
    const sales = candidates.filter((sale) => saleDay(sale.values) === day);
    if (storeId !== null) target.values.store_id = storeId;
    target.values.day = day;
    target.values.sales_count = sales.length;
    target.values.total_cents = sales.reduce((sum, sale) => sum + Number(sale.values.total_cents ?? 0), 0);
  },
});

/**
 * `product-web-catalog` (bypass, PROTOCOL.md §6): sends each changed product to the shop's web catalog as
 * `POST {event, product}`; any answer but 2xx fails the job, so it is retried. Disabled while no URL is set.
 */
export function productWebCatalog(webhookUrl: string | null): SyncJobType {
  return defineSyncJobType({
    name: 'product-web-catalog',
    sourceTable: 'products',
    mode: 'bypass',
    triggers: ['insert', 'update', 'delete'],
    defaults: { disabled: webhookUrl === null },
    async execute(job, source) {
      if (!source) return null;
      const event = job.trigger.event ?? (source.deleted ? 'delete' : 'update');
      const target = { table: 'web_catalog', id: source.id };
      if (!job.isEnabled(event)) return { target, operation: event, status: 'Skipped' };
      // A dry run says what it would send, and sends nothing.
      if (job.dryRun) return { target, operation: event };
      if (webhookUrl === null) {
        throw new UnrecoverableJobError(
          'TILLSYNC_CATALOG_WEBHOOK is not set: set it to the catalog URL, then retry',
        );
      }
      const response = await fetch(webhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ event, product: { id: source.id, ...source.values } }),
        signal: job.signal,
      });
      if (!response.ok) {
        const text = (await response.text().catch(() => '')).slice(0, 200);
        throw new Error(`the catalog webhook answered ${response.status}${text ? `: ${text}` : ''}`);
      }
      return { target, operation: event };
    },
  });
}

/**
 * `category-products-unlink` (multiple targets; the worked example of docs/sync-jobs.md): when a category
 * is deleted, its products stop pointing at it (`category_id` set to null), so no device keeps a product
 * whose category is gone and has its next push of that product refused for the foreign key. Several
 * products make one child job each; one is handled inline; none ends `No Target`. Disabled by default: it
 * changes the shop's data, so the owner turns it on.
 */
export const categoryProductsUnlink = defineSyncJobType({
  name: 'category-products-unlink',
  sourceTable: 'categories',
  targetTable: 'products',
  mode: 'multiple',
  triggers: ['delete'],
  defaults: { disabled: true },
  async getMultipleTargetDocuments(job, source) {
    // Only a deleted category lets go of its products; run by hand on a live one, it finds nothing to do.
    if (!source?.deleted) return [];
    const products = await job.rows.find('products', { where: { category_id: source.id } });
    return products.map((product) => ({ operation: 'update' as const, id: product.id }));
  },
  updateTargetDoc(_job, source, target) {
    if (target.values.category_id === source?.id) target.values.category_id = null;
  },
});

/** The built-in job types of the built-in schema. */
export function builtinJobTypes(options: { readonly catalogWebhookUrl: string | null }): SyncJobType[] {
  return [saleDailySales, productWebCatalog(options.catalogWebhookUrl), categoryProductsUnlink];
}
