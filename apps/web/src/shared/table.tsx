import type { ReactNode } from 'react';
import { Notice } from './notice.js';

/** A column heading: its words, or the words with how the column shows (numbers right-aligned; a heading
 * only screen readers read, for a column of buttons). */
export type Column = string | { readonly label: string; readonly numeric?: true; readonly hidden?: true };

/** A table's heading row, the same markup on every page. */
export function TableHead(props: { readonly columns: readonly Column[] }): ReactNode {
  return (
    <thead>
      <tr>
        {props.columns.map((column) => {
          const { label, numeric, hidden } = typeof column === 'string' ? { label: column } : column;
          return (
            <th key={label} scope="col" className={numeric ? 'numeric' : undefined}>
              {hidden ? <span className="visually-hidden">{label}</span> : label}
            </th>
          );
        })}
      </tr>
    </thead>
  );
}

/**
 * The last cell of a row being edited in place: Save and Cancel, in a form the row's inputs join by `form`
 * (a form may not wrap table cells), and the error of the last try.
 */
export function EditRowActions(props: {
  readonly formId: string;
  readonly onSave: () => Promise<void>;
  readonly onCancel: () => void;
  readonly error: string | null;
}): ReactNode {
  return (
    <td className="actions">
      <form
        id={props.formId}
        onSubmit={(event) => {
          event.preventDefault();
          void props.onSave();
        }}
        className="inline-form"
      >
        <button type="submit" className="primary">
          Save
        </button>
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
      </form>
      {props.error && <Notice kind="error">{props.error}</Notice>}
    </td>
  );
}

/** The last cell of a row that is not being edited: its Edit button, named for screen readers. */
export function EditCell(props: { readonly name: string; readonly onEdit: () => void }): ReactNode {
  return (
    <td className="actions">
      <button type="button" onClick={props.onEdit} aria-label={`Edit ${props.name}`}>
        Edit
      </button>
    </td>
  );
}
