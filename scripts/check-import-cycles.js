// Fails on any import circle between the repository's TypeScript modules, type-only imports included: two
// modules that import each other cannot be read, or changed, one at a time (ARCHITECTURE.md). ESLint's
// import-x/no-cycle reports circles of value imports in the editor; this check, run by `npm run lint`, also
// sees the circles that only types close. Imports of workspace packages by name are the import-direction
// rule's (eslint.config.js); this follows relative imports.
//
//   node scripts/check-import-cycles.js [folder …]   (default: the whole repository)
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const root = path.resolve(import.meta.dirname, '..');
const skipped = new Set(['node_modules', 'dist', '.git', 'data', 'coverage']);

/** Every .ts and .tsx file under `folder` (declaration files left out). */
function sourceFiles(folder) {
  const files = [];
  for (const entry of fs.readdirSync(folder, { withFileTypes: true })) {
    if (skipped.has(entry.name)) continue;
    const full = path.join(folder, entry.name);
    if (entry.isDirectory()) files.push(...sourceFiles(full));
    else if (/\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts')) files.push(full);
  }
  return files;
}

/** The module specifiers a file imports or re-exports from, at its top level. */
function specifiers(file) {
  const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false);
  const found = [];
  for (const statement of source.statements) {
    if (
      (ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) &&
      statement.moduleSpecifier &&
      ts.isStringLiteral(statement.moduleSpecifier)
    ) {
      found.push(statement.moduleSpecifier.text);
    } else if (
      ts.isImportEqualsDeclaration(statement) &&
      ts.isExternalModuleReference(statement.moduleReference) &&
      ts.isStringLiteral(statement.moduleReference.expression)
    ) {
      found.push(statement.moduleReference.expression.text);
    }
  }
  return found;
}

/** The source file a relative specifier names (`./x.js` is `./x.ts` or `./x.tsx`), or null. */
function resolve(from, specifier, known) {
  if (!specifier.startsWith('.')) return null;
  const target = path.resolve(path.dirname(from), specifier);
  const stem = target.replace(/\.(js|jsx|mjs|cjs|ts|tsx)$/, '');
  for (const candidate of [
    `${stem}.ts`,
    `${stem}.tsx`,
    path.join(target, 'index.ts'),
    path.join(target, 'index.tsx'),
  ]) {
    if (known.has(candidate)) return candidate;
  }
  return null;
}

/** The strongly connected components of more than one module, or of one that imports itself (Tarjan). */
function circles(graph) {
  let counter = 0;
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const found = [];
  const visit = (node) => {
    index.set(node, counter);
    low.set(node, counter);
    counter++;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node), low.get(next)));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node), index.get(next)));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component = [];
    for (;;) {
      const member = stack.pop();
      onStack.delete(member);
      component.push(member);
      if (member === node) break;
    }
    if (component.length > 1 || graph.get(node)?.has(node)) found.push(component);
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return found;
}

/** One path around a circle, from `start` back to it, within `members`. */
function cyclePath(graph, members, start) {
  const inside = new Set(members);
  const previous = new Map([[start, null]]);
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.shift();
    for (const next of graph.get(node) ?? []) {
      if (!inside.has(next)) continue;
      if (next === start) {
        const route = [start];
        for (let step = node; step !== start; step = previous.get(step)) route.splice(1, 0, step);
        return [...route, start];
      }
      if (!previous.has(next)) {
        previous.set(next, node);
        queue.push(next);
      }
    }
  }
  return [start, start];
}

const folders = process.argv.slice(2).map((folder) => path.resolve(folder));
const files = (folders.length > 0 ? folders : [root]).flatMap(sourceFiles);
const known = new Set(files);
const graph = new Map();
for (const file of files) {
  const targets = new Set();
  for (const specifier of specifiers(file)) {
    const target = resolve(file, specifier, known);
    if (target) targets.add(target);
  }
  graph.set(file, targets);
}
const found = circles(graph);
for (const component of found) {
  const start = [...component].sort()[0];
  const route = cyclePath(graph, component, start).map((file) => path.relative(root, file));
  const others = component.filter((file) => !route.includes(path.relative(root, file)));
  const more =
    others.length > 0 ? ` (and through ${others.map((file) => path.relative(root, file)).join(', ')})` : '';
  process.stderr.write(`import circle: ${route.join(' -> ')}${more}\n`);
}
if (found.length > 0) {
  process.stderr.write(
    `${found.length} import circle(s): break each by moving what both sides need into a module of its own\n`,
  );
  process.exit(1);
}
process.stdout.write(`no import circles among ${files.length} modules\n`);
