import { useMemo, useState, type FormEvent, type ReactNode } from 'react';
import { messageOf } from '../shared/http.js';
import { formatCents, parseCents } from '../shared/money.js';
import { Notice } from '../shared/notice.js';
import { deviceApi } from './device-api.js';
import { useDevice } from './device-context.js';
import { RowSyncBadge, rejectedSummary } from './row-sync-badge.js';
import { useStock, type Stock } from './stock.js';
import type { CategoryValues, Product, ProductValues } from './types.js';
import { useFirstSyncNotice } from './first-sync.js';
import { ListCount } from './list-count.js';
import { useRows, useSettled } from './use-rows.js';
import { EditCell, EditRowActions, TableHead } from '../shared/table.js';

/** The most products the list shows at once; the search finds any of the others (in SQL, on the agent). */
const PRODUCTS_SHOWN = 200;

/** The product list: add a product, change a price or the stock. Every change is synced like any other. */
export function ProductsScreen(): ReactNode {
  const [filter, setFilter] = useState('');
  const search = useSettled(filter);
  const products = useRows<ProductValues>('products', { search, order: 'name', limit: PRODUCTS_SHOWN });
  const stock = useStock(products.columns);
  const categories = useRows<CategoryValues>('categories', { order: 'name' });
  const [editing, setEditing] = useState<string | null>(null);
  const firstSync = useFirstSyncNotice('products');

  const categoryNames = useMemo(
    () => new Map((categories.rows ?? []).map((category) => [category.id, category.values.name])),
    [categories.rows],
  );
  const shown = products.rows ?? [];
  const refused = products.rows ? rejectedSummary(products.rows, 'product') : null;

  return (
    <section aria-labelledby="products-title" className="screen">
      <h1 id="products-title">Products</h1>
      <AddProductForm categories={categories.rows ?? []} stock={stock} />
      {products.error && <Notice kind="error">{products.error}</Notice>}
      {refused && <Notice kind="error">{refused}</Notice>}
      <label className="search">
        <span>Find a product</span>
        <input type="search" value={filter} onChange={(event) => setFilter(event.target.value)} />
      </label>
      <div className="table-scroll">
        <table className="table" aria-label="Products">
          <TableHead
            columns={[
              'SKU',
              'Name',
              'Category',
              { label: 'Price', numeric: true },
              { label: 'Stock', numeric: true },
              { label: 'Actions', hidden: true },
            ]}
          />
          <tbody>
            {shown.map((product) =>
              editing === product.id ? (
                <EditProductRow
                  key={product.id}
                  product={product}
                  category={categoryNames.get(product.values.category_id ?? '') ?? ''}
                  stock={stock}
                  onDone={() => setEditing(null)}
                />
              ) : (
                <tr key={product.id} className={product.error ? 'row-refused' : undefined}>
                  <td className="nowrap">{product.values.sku}</td>
                  <td>
                    <span className="cell-main">{product.values.name}</span>
                    <RowSyncBadge row={product} />
                  </td>
                  <td>{categoryNames.get(product.values.category_id ?? '') ?? ''}</td>
                  <td className="numeric">{formatCents(product.values.price_cents)}</td>
                  <td className="numeric" data-testid={`stock-${product.values.sku}`}>
                    {stock.of(product) ?? '—'}
                  </td>
                  <EditCell name={product.values.name} onEdit={() => setEditing(product.id)} />
                </tr>
              ),
            )}
          </tbody>
        </table>
      </div>
      <ListCount
        shown={shown.length}
        matching={products.matching}
        matchingCapped={products.matchingCapped}
        total={products.total}
        search={search}
        noun={['product', 'products']}
      />
      {firstSync}
      {products.rows !== null && products.total === 0 && !firstSync && (
        <p>No products yet: add the first one above.</p>
      )}
    </section>
  );
}

function EditProductRow(props: {
  readonly product: Product;
  readonly category: string;
  readonly stock: Stock;
  readonly onDone: () => void;
}): ReactNode {
  const { product, onDone } = props;
  const { dataChanged } = useDevice();
  const [price, setPrice] = useState((product.values.price_cents / 100).toFixed(2));
  const counted = props.stock.of(product);
  const [stock, setStock] = useState(counted === null ? '' : String(counted));
  const [error, setError] = useState<string | null>(null);
  const name = product.values.name;

  const save = async (): Promise<void> => {
    const priceCents = parseCents(price);
    const stockCount = stock.trim() === '' && counted === null ? null : Number(stock);
    if (priceCents === null) return setError('The price must be an amount such as 1.20.');
    if (stockCount !== null && !Number.isInteger(stockCount))
      return setError('The stock must be a whole number.');
    try {
      if (props.stock.perStore) {
        await deviceApi.updateRow('products', product.id, { price_cents: priceCents });
        if (stockCount !== null && stockCount !== counted) await props.stock.set(product, stockCount);
      } else {
        await deviceApi.updateRow('products', product.id, { price_cents: priceCents, stock: stockCount });
      }
      dataChanged();
      onDone();
    } catch (failure) {
      setError(messageOf(failure));
    }
  };

  return (
    <tr className="row-editing">
      <td className="nowrap">{product.values.sku}</td>
      <td>{name}</td>
      <td>{props.category}</td>
      <td className="numeric">
        <input
          form={`edit-${product.id}`}
          aria-label={`Price of ${name}`}
          inputMode="decimal"
          className="input-narrow"
          value={price}
          onChange={(event) => setPrice(event.target.value)}
          autoFocus
        />
      </td>
      <td className="numeric">
        <input
          form={`edit-${product.id}`}
          aria-label={`Stock of ${name}`}
          type="number"
          step={1}
          className="input-narrow"
          value={stock}
          onChange={(event) => setStock(event.target.value)}
        />
      </td>
      <EditRowActions formId={`edit-${product.id}`} onSave={save} onCancel={onDone} error={error} />
    </tr>
  );
}

function AddProductForm(props: {
  readonly categories: readonly { id: string; values: CategoryValues }[];
  readonly stock: Stock;
}): ReactNode {
  const { dataChanged } = useDevice();
  const [sku, setSku] = useState('');
  const [name, setName] = useState('');
  const [price, setPrice] = useState('');
  const [stock, setStock] = useState('0');
  const [categoryId, setCategoryId] = useState('');
  const [message, setMessage] = useState<{ kind: 'success' | 'error'; text: string } | null>(null);

  const add = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    const priceCents = parseCents(price);
    const stockCount = Number(stock);
    if (sku.trim() === '' || name.trim() === '') {
      return setMessage({ kind: 'error', text: 'Give the product a SKU and a name.' });
    }
    if (priceCents === null)
      return setMessage({ kind: 'error', text: 'The price must be an amount such as 1.20.' });
    if (!Number.isInteger(stockCount))
      return setMessage({ kind: 'error', text: 'The stock must be a whole number.' });
    try {
      const values = {
        sku: sku.trim(),
        name: name.trim(),
        price_cents: priceCents,
        category_id: categoryId === '' ? null : categoryId,
        active: 1,
      };
      if (props.stock.perStore) {
        // The catalogue is the chain's; the count is this store's own.
        const added = await deviceApi.addRow('products', values);
        await deviceApi.addRow('stock_levels', { product_id: added.id, quantity: stockCount });
      } else {
        await deviceApi.addRow('products', { ...values, stock: stockCount });
      }
      setMessage({ kind: 'success', text: `Added ${name.trim()}.` });
      setSku('');
      setName('');
      setPrice('');
      setStock('0');
      dataChanged();
    } catch (failure) {
      setMessage({ kind: 'error', text: messageOf(failure) });
    }
  };

  return (
    <form className="card form-row" onSubmit={(event) => void add(event)} aria-labelledby="add-product-title">
      <h2 id="add-product-title">Add a product</h2>
      <div className="fields">
        <label>
          <span>SKU</span>
          <input value={sku} onChange={(event) => setSku(event.target.value)} required />
        </label>
        <label>
          <span>Name</span>
          <input value={name} onChange={(event) => setName(event.target.value)} required />
        </label>
        <label>
          <span>Price</span>
          <input
            value={price}
            inputMode="decimal"
            placeholder="1.20"
            onChange={(event) => setPrice(event.target.value)}
            required
          />
        </label>
        <label>
          <span>Stock</span>
          <input type="number" step={1} value={stock} onChange={(event) => setStock(event.target.value)} />
        </label>
        <label>
          <span>Category</span>
          <select value={categoryId} onChange={(event) => setCategoryId(event.target.value)}>
            <option value="">None</option>
            {props.categories.map((category) => (
              <option key={category.id} value={category.id}>
                {category.values.name}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" className="primary">
          Add product
        </button>
      </div>
      {message && <Notice kind={message.kind}>{message.text}</Notice>}
    </form>
  );
}
