// Names in SQL grants (`documents`, `crm.documents`, `"Mixed Case"`): folded as PostgreSQL folds identifiers, and shown back the same way.

/**
 * Splits a dotted name into identifiers: unquoted parts are lower-cased (ASCII only, as PostgreSQL does),
 * double-quoted parts are kept exactly. Undefined when the text is not a well-formed name.
 */
export function parseName(text: string): string[] | undefined {
  const parts: string[] = [];
  let i = 0;
  while (i <= text.length) {
    let part = '';
    if (text[i] === '"') {
      for (i++; ; i++) {
        if (i >= text.length) return undefined;
        if (text[i] === '"' && text[i + 1] === '"') { part += '"'; i++; continue; }
        if (text[i] === '"') { i++; break; }
        part += text[i];
      }
    } else {
      const end = text.indexOf('.', i) === -1 ? text.length : text.indexOf('.', i);
      part = text.slice(i, end).trim().replace(/[A-Z]/g, (c) => c.toLowerCase());
      i = end;
    }
    if (!part) return undefined;
    parts.push(part);
    if (i >= text.length) return parts;
    if (text[i] !== '.') return undefined;
    i++;
  }
  return undefined;
}

/** An identifier as it must be written in SQL or in a grant to mean exactly this name. */
export function formatIdentifier(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

export const formatQualified = (schema: string, name: string) => `${formatIdentifier(schema)}.${formatIdentifier(name)}`;

/** How a grant would name this relation: bare in the default schema, qualified elsewhere. */
export const grantName = (schema: string, name: string, defaultSchema: string) =>
  schema === defaultSchema ? formatIdentifier(name) : formatQualified(schema, name);
