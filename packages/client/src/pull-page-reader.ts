import { PullResponse } from '@tillsync/protocol';
import { TypeCompiler } from '@sinclair/typebox/compiler';

const checkPage = TypeCompiler.Compile(PullResponse);
const checkChanges = TypeCompiler.Compile(PullResponse.properties.changes);

/** How the server lays a page out: the changes one per line, between these. */
const CHANGES_START = '{"changes":[\n';
const CHANGES_END = '\n]';
const CHANGE_SEPARATOR = ',\n';
/** About how much text is parsed in one turn of the event loop: well under a millisecond. */
const PART_CHARS = 100_000;

/**
 * Parses and checks a pull answer. A page of 5,000 changes takes several milliseconds to parse and check in
 * one go, which a till's write would wait for; laid out one change per line as the server sends it, it is
 * parsed in parts of about {@link PART_CHARS} characters, the event loop free between them.
 *
 * The parts give what one `JSON.parse` of the whole text gives, or fail: a part cut inside a change leaves a
 * bracket or a string open. Any other layout, or a part that fails, is parsed and checked whole, so a page
 * is refused only when it is not valid: with the error `refuse` makes of its first fault.
 */
export async function readPullPage(text: string, refuse: (detail: string) => Error): Promise<PullResponse> {
  return (await readInParts(text)) ?? readWhole(text, refuse);
}

async function readInParts(text: string): Promise<PullResponse | null> {
  if (!text.startsWith(CHANGES_START)) return null;
  const changesEnd = text.lastIndexOf(CHANGES_END);
  if (changesEnd < CHANGES_START.length - 1) return null;
  const rest = parseJson(`{"changes":[${text.slice(changesEnd + 1)}`);
  if (!checkPage.Check(rest) || rest.changes.length > 0) return null;
  const changes: PullResponse['changes'] = [];
  for (let start = CHANGES_START.length; start < changesEnd;) {
    const cut = text.indexOf(CHANGE_SEPARATOR, start + PART_CHARS);
    // A separator right before the end would be a trailing comma, which JSON refuses.
    if (cut === changesEnd - 1) return null;
    const end = cut === -1 || cut > changesEnd ? changesEnd : cut;
    const part = parseJson(`[${text.slice(start, end)}]`);
    if (!checkChanges.Check(part)) return null;
    for (const change of part) changes.push(change);
    start = end + CHANGE_SEPARATOR.length;
    if (start < changesEnd) await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return { ...rest, changes };
}

function readWhole(text: string, refuse: (detail: string) => Error): PullResponse {
  const page = parseJson(text);
  if (checkPage.Check(page)) return page;
  const first = checkPage.Errors(page).First();
  throw refuse(first ? `${first.path || '/'}: ${first.message}` : 'not JSON');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
