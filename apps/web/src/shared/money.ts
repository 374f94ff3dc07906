const euros = new Intl.NumberFormat('en-IE', { style: 'currency', currency: 'EUR' });

/** Integer cents as money: 120 → "€1.20". */
export function formatCents(cents: number): string {
  return euros.format(cents / 100);
}

/**
 * Money typed by a person as cents: "1.2", "1,20", "€ 3" → 120, 120, 300; `null` when it is not an amount.
 * Cents are whole numbers on the wire, so no float ever reaches the database.
 */
export function parseCents(text: string): number | null {
  const cleaned = text.replace(/[€\s]/g, '').replace(',', '.');
  if (!/^\d+(\.\d{1,2})?$/.test(cleaned)) return null;
  const [whole = '0', fraction = ''] = cleaned.split('.');
  return Number(whole) * 100 + Number(fraction.padEnd(2, '0'));
}
