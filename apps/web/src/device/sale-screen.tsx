import { useMemo, useState, type FormEvent, type KeyboardEvent, type ReactNode } from 'react';
import { messageOf } from '../shared/http.js';
import { formatCents } from '../shared/money.js';
import { Notice } from '../shared/notice.js';
import { clockTime } from '../shared/time.js';
import { deviceApi } from './device-api.js';
import { useDevice } from './device-context.js';
import { RowSyncBadge } from './row-sync-badge.js';
import { useStock } from './stock.js';
import type { CustomerValues, Product, ProductValues, SaleValues } from './types.js';
import { useFirstSyncNotice } from './first-sync.js';
import { ListCount } from './list-count.js';
import { useRows, useSettled } from './use-rows.js';
import { TableHead } from '../shared/table.js';

/** A line of the sale: the product as it was picked (the agent prices it when the sale is recorded). */
interface CartLine {
  readonly product: Product;
  readonly quantity: number;
}

/** The most product tiles shown at once; the search finds any of the others. */
const TILES_SHOWN = 60;

/**
 * A quick sale: pick products (click, or type and press Enter), set quantities, see the total, record it.
 * The agent writes the sale, its items and the stock decrements in one transaction.
 */
export function SaleScreen(): ReactNode {
  const { dataChanged } = useDevice();
  const [search, setSearch] = useState('');
  const settledSearch = useSettled(search);
  const productQuery = { equals: { active: 1 }, order: 'name' } as const;
  const products = useRows<ProductValues>('products', {
    ...productQuery,
    search: settledSearch,
    limit: TILES_SHOWN,
  });
  const stock = useStock(products.columns);
  const customers = useRows<CustomerValues>('customers', { order: 'name' });
  const firstSync = useFirstSyncNotice('products');
  const [cart, setCart] = useState<readonly CartLine[]>([]);
  const [customerId, setCustomerId] = useState('');
  const [message, setMessage] = useState<{ kind: 'success' | 'error'; text: string } | null>(null);
  const [recording, setRecording] = useState(false);

  const choices = products.rows ?? [];
  const total = cart.reduce((sum, line) => sum + line.product.values.price_cents * line.quantity, 0);

  const add = (product: Product): void => {
    setMessage(null);
    setCart((lines) =>
      lines.some((line) => line.product.id === product.id)
        ? lines.map((line) =>
            line.product.id === product.id ? { ...line, quantity: line.quantity + 1 } : line,
          )
        : [...lines, { product, quantity: 1 }],
    );
  };
  const setQuantity = (productId: string, quantity: number): void =>
    setCart((lines) => lines.map((line) => (line.product.id === productId ? { ...line, quantity } : line)));
  const remove = (productId: string): void =>
    setCart((lines) => lines.filter((line) => line.product.id !== productId));

  const addFirstMatch = async (event: KeyboardEvent<HTMLInputElement>): Promise<void> => {
    if (event.key !== 'Enter') return;
    event.preventDefault();
    const typed = search;
    // The tiles may still show an older search (a scanner types faster than the list is read): ask for this one.
    const first =
      typed === settledSearch
        ? choices[0]
        : (await deviceApi.rows<ProductValues>('products', { ...productQuery, search: typed, limit: 1 }))
            .rows[0];
    if (first) {
      add(first);
      setSearch('');
    } else {
      setMessage({ kind: 'error', text: `No product matches “${typed.trim()}”.` });
    }
  };

  const record = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    const items = cart
      .filter((line) => line.quantity > 0)
      .map((line) => ({ productId: line.product.id, quantity: line.quantity }));
    if (items.length === 0) return setMessage({ kind: 'error', text: 'Add a product to the sale first.' });
    setRecording(true);
    try {
      const sale = await deviceApi.recordSale({ customerId: customerId === '' ? null : customerId, items });
      const count = items.reduce((sum, line) => sum + line.quantity, 0);
      setMessage({
        kind: 'success',
        text: `Sale recorded: ${count} ${count === 1 ? 'item' : 'items'}, ${formatCents(sale.values.total_cents)}.`,
      });
      setCart([]);
      setCustomerId('');
      dataChanged();
    } catch (failure) {
      setMessage({ kind: 'error', text: messageOf(failure) });
    } finally {
      setRecording(false);
    }
  };

  return (
    <section aria-labelledby="sale-title" className="screen">
      <h1 id="sale-title">Quick sale</h1>
      {products.error && <Notice kind="error">{products.error}</Notice>}
      <div className="sale-layout">
        <div className="sale-products">
          <label className="search">
            <span>Find a product (Enter adds the first)</span>
            <input
              type="search"
              value={search}
              onChange={(event) => setSearch(event.target.value)}
              onKeyDown={(event) => void addFirstMatch(event)}
            />
          </label>
          <ul className="product-grid" aria-label="Products to sell">
            {choices.map((product) => {
              const inStock = stock.of(product);
              const stockText = inStock === null ? 'not counted here' : `${inStock} in stock`;
              return (
                <li key={product.id}>
                  <button
                    type="button"
                    className="product-tile"
                    onClick={() => add(product)}
                    aria-label={`${product.values.name}, ${formatCents(product.values.price_cents)}, ${stockText}`}
                  >
                    <span className="tile-name">{product.values.name}</span>
                    <span className="tile-price">{formatCents(product.values.price_cents)}</span>
                    <span className={(inStock ?? 0) > 0 ? 'tile-stock' : 'tile-stock text-bad'}>
                      {stockText}
                    </span>
                  </button>
                </li>
              );
            })}
          </ul>
          {firstSync}
          {products.rows !== null && products.total === 0 && !firstSync && (
            <p>No products to sell yet: add them under Products.</p>
          )}
          <ListCount
            shown={products.rows?.length ?? 0}
            matching={products.matching}
            matchingCapped={products.matchingCapped}
            total={products.total}
            search={settledSearch}
            noun={['product', 'products']}
          />
        </div>
        <form className="card cart" onSubmit={(event) => void record(event)} aria-labelledby="cart-title">
          <h2 id="cart-title">This sale</h2>
          {cart.length === 0 ? (
            <p className="muted">Pick products to add them to the sale.</p>
          ) : (
            <table className="table" aria-label="Items in this sale">
              <TableHead
                columns={[
                  'Item',
                  { label: 'Quantity', numeric: true },
                  { label: 'Amount', numeric: true },
                  { label: 'Remove', hidden: true },
                ]}
              />
              <tbody>
                {cart.map((line) => {
                  const { product } = line;
                  return (
                    <tr key={product.id}>
                      <td>{product.values.name}</td>
                      <td className="numeric">
                        <input
                          type="number"
                          min={1}
                          step={1}
                          className="input-narrow"
                          aria-label={`Quantity of ${product.values.name}`}
                          value={line.quantity}
                          onChange={(event) =>
                            setQuantity(product.id, Math.max(0, Math.floor(Number(event.target.value))))
                          }
                        />
                      </td>
                      <td className="numeric">{formatCents(product.values.price_cents * line.quantity)}</td>
                      <td>
                        <button
                          type="button"
                          className="icon-button"
                          aria-label={`Remove ${product.values.name}`}
                          onClick={() => remove(product.id)}
                        >
                          ×
                        </button>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )}
          <label>
            <span>Customer</span>
            <select value={customerId} onChange={(event) => setCustomerId(event.target.value)}>
              <option value="">Walk-in customer</option>
              {(customers.rows ?? []).map((customer) => (
                <option key={customer.id} value={customer.id}>
                  {customer.values.name}
                </option>
              ))}
            </select>
          </label>
          <p className="total">
            <span>Total</span> <output aria-label="Total">{formatCents(total)}</output>
          </p>
          <button type="submit" className="primary large" disabled={recording}>
            Record sale
          </button>
          {message && <Notice kind={message.kind}>{message.text}</Notice>}
        </form>
      </div>
      <RecentSales />
    </section>
  );
}

function RecentSales(): ReactNode {
  const sales = useRows<SaleValues>('sales', { order: 'created_at', descending: true, limit: 8 });
  const customers = useRows<CustomerValues>('customers');
  const names = useMemo(
    () => new Map((customers.rows ?? []).map((customer) => [customer.id, customer.values.name])),
    [customers.rows],
  );
  const recent = sales.rows ?? [];
  if (recent.length === 0) return null;
  return (
    <section aria-labelledby="recent-sales-title" className="card">
      <h2 id="recent-sales-title">Recent sales</h2>
      <table className="table" aria-label="Recent sales">
        <TableHead columns={['Time', 'Customer', { label: 'Total', numeric: true }, 'Sync']} />
        <tbody>
          {recent.map((sale) => (
            <tr key={sale.id}>
              <td>{clockTime(sale.values.created_at)}</td>
              <td>{names.get(sale.values.customer_id ?? '') ?? 'Walk-in'}</td>
              <td className="numeric">{formatCents(sale.values.total_cents)}</td>
              <td>
                {sale.pending || sale.error ? (
                  <RowSyncBadge row={sale} />
                ) : (
                  <span className="text-good">Synced</span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
