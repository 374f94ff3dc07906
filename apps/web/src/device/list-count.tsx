import type { ReactNode } from 'react';

/**
 * Under a list that shows one page of a table: "Showing 200 of 200,000 products", or, for a search,
 * "No product matches “SKU-9”" and "Showing 60 of 1,204 products matching “cola”" ("of more than 10,000"
 * where the count stopped). Says nothing when the page holds every row.
 */
export function ListCount(props: {
  readonly shown: number;
  readonly matching: number;
  /** More than `matching` match: the count stopped there. */
  readonly matchingCapped?: boolean;
  readonly total: number;
  readonly search: string;
  /** The rows' word, singular and plural: ['product', 'products']. */
  readonly noun: readonly [string, string];
}): ReactNode {
  const { shown, matching, total, noun } = props;
  const search = props.search.trim();
  if (search !== '' && matching === 0 && total > 0) {
    return (
      <p className="list-count" role="status">
        No {noun[0]} matches “{search}”.
      </p>
    );
  }
  if (shown >= matching) return null;
  const count = new Intl.NumberFormat();
  return (
    <p className="list-count" role="status">
      Showing {count.format(shown)} of {props.matchingCapped === true ? 'more than ' : ''}
      {count.format(matching)} {matching === 1 ? noun[0] : noun[1]}
      {search === '' ? '' : ` matching “${search}”`}: search to find the others.
    </p>
  );
}
