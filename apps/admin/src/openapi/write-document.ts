import { writeFileSync } from 'node:fs';
import { openApiDocument } from './document';

/**
 * `pnpm openapi`: writes the served document to docs/openapi.json, so the repository carries
 * a readable copy (and Redocly's linter a file to read). A test fails when the copy is stale.
 */
export function documentText(): string {
  return `${JSON.stringify(openApiDocument, null, 2)}\n`;
}

if (require.main === module) {
  const target = process.argv[2] ?? 'docs/openapi.json';
  writeFileSync(target, documentText());
  process.stdout.write(`wrote ${target}\n`);
}
