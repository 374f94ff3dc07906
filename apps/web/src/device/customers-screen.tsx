import { useState, type FormEvent, type ReactNode } from 'react';
import { messageOf } from '../shared/http.js';
import { Notice } from '../shared/notice.js';
import { deviceApi } from './device-api.js';
import { useDevice } from './device-context.js';
import { RowSyncBadge, rejectedSummary } from './row-sync-badge.js';
import type { Customer, CustomerValues } from './types.js';
import { ListCount } from './list-count.js';
import { useRows } from './use-rows.js';
import { EditCell, EditRowActions, TableHead } from '../shared/table.js';

/** The customers: add one, change a phone number or an email. */
export function CustomersScreen(): ReactNode {
  const customers = useRows<CustomerValues>('customers', { order: 'name' });
  const [editing, setEditing] = useState<string | null>(null);
  const sorted = customers.rows ?? [];
  const refused = customers.rows ? rejectedSummary(customers.rows, 'customer') : null;
  return (
    <section aria-labelledby="customers-title" className="screen">
      <h1 id="customers-title">Customers</h1>
      <AddCustomerForm />
      {customers.error && <Notice kind="error">{customers.error}</Notice>}
      {refused && <Notice kind="error">{refused}</Notice>}
      <div className="table-scroll">
        <table className="table" aria-label="Customers">
          <TableHead columns={['Name', 'Phone', 'Email', { label: 'Actions', hidden: true }]} />
          <tbody>
            {sorted.map((customer) =>
              editing === customer.id ? (
                <EditCustomerRow key={customer.id} customer={customer} onDone={() => setEditing(null)} />
              ) : (
                <tr key={customer.id} className={customer.error ? 'row-refused' : undefined}>
                  <td>
                    <span className="cell-main">{customer.values.name}</span>
                    <RowSyncBadge row={customer} />
                  </td>
                  <td>{customer.values.phone ?? ''}</td>
                  <td>{customer.values.email ?? ''}</td>
                  <EditCell name={customer.values.name} onEdit={() => setEditing(customer.id)} />
                </tr>
              ),
            )}
          </tbody>
        </table>
      </div>
      <ListCount
        shown={sorted.length}
        matching={customers.matching}
        matchingCapped={customers.matchingCapped}
        total={customers.total}
        search=""
        noun={['customer', 'customers']}
      />
      {customers.rows?.length === 0 && <p>No customers yet.</p>}
    </section>
  );
}

function EditCustomerRow(props: { readonly customer: Customer; readonly onDone: () => void }): ReactNode {
  const { customer, onDone } = props;
  const { dataChanged } = useDevice();
  const [phone, setPhone] = useState(customer.values.phone ?? '');
  const [email, setEmail] = useState(customer.values.email ?? '');
  const [error, setError] = useState<string | null>(null);
  const name = customer.values.name;
  const formId = `edit-${customer.id}`;
  const save = async (): Promise<void> => {
    try {
      await deviceApi.updateRow('customers', customer.id, {
        phone: phone.trim() === '' ? null : phone.trim(),
        email: email.trim() === '' ? null : email.trim(),
      });
      dataChanged();
      onDone();
    } catch (failure) {
      setError(messageOf(failure));
    }
  };
  return (
    <tr className="row-editing">
      <td>{name}</td>
      <td>
        <input
          form={formId}
          aria-label={`Phone of ${name}`}
          value={phone}
          onChange={(event) => setPhone(event.target.value)}
          autoFocus
        />
      </td>
      <td>
        <input
          form={formId}
          aria-label={`Email of ${name}`}
          type="email"
          value={email}
          onChange={(event) => setEmail(event.target.value)}
        />
      </td>
      <EditRowActions formId={formId} onSave={save} onCancel={onDone} error={error} />
    </tr>
  );
}

function AddCustomerForm(): ReactNode {
  const { dataChanged } = useDevice();
  const [name, setName] = useState('');
  const [phone, setPhone] = useState('');
  const [email, setEmail] = useState('');
  const [message, setMessage] = useState<{ kind: 'success' | 'error'; text: string } | null>(null);
  const add = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    if (name.trim() === '') return setMessage({ kind: 'error', text: 'Give the customer a name.' });
    try {
      await deviceApi.addRow('customers', {
        name: name.trim(),
        phone: phone.trim() === '' ? null : phone.trim(),
        email: email.trim() === '' ? null : email.trim(),
      });
      setMessage({ kind: 'success', text: `Added ${name.trim()}.` });
      setName('');
      setPhone('');
      setEmail('');
      dataChanged();
    } catch (failure) {
      setMessage({ kind: 'error', text: messageOf(failure) });
    }
  };
  return (
    <form
      className="card form-row"
      onSubmit={(event) => void add(event)}
      aria-labelledby="add-customer-title"
    >
      <h2 id="add-customer-title">Add a customer</h2>
      <div className="fields">
        <label>
          <span>Name</span>
          <input value={name} onChange={(event) => setName(event.target.value)} required />
        </label>
        <label>
          <span>Phone</span>
          <input type="tel" value={phone} onChange={(event) => setPhone(event.target.value)} />
        </label>
        <label>
          <span>Email</span>
          <input type="email" value={email} onChange={(event) => setEmail(event.target.value)} />
        </label>
        <button type="submit" className="primary">
          Add customer
        </button>
      </div>
      {message && <Notice kind={message.kind}>{message.text}</Notice>}
    </form>
  );
}
