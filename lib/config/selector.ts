// Checks a label selector's syntax the way the API server parses it (k8s.io/apimachinery labels.Parse), so a typo
// in --selector is a configuration error (exit 2) before any API call instead of an API failure mid-run.

const NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const OPERATORS = ['!=', '==', '=', '!', '(', ')', ',', '<', '>'];

type Token = { op: string } | { id: string };

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    if (/\s/.test(text[i]!)) {
      i++;
      continue;
    }
    const op = OPERATORS.find((o) => text.startsWith(o, i));
    if (op) {
      out.push({ op });
      i += op.length;
      continue;
    }
    let j = i;
    while (j < text.length && !/\s/.test(text[j]!) && !'!=(),<>'.includes(text[j]!)) j++;
    out.push({ id: text.slice(i, j) });
    i = j;
  }
  return out;
}

function keyProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (slash >= 0) {
    const prefix = key.slice(0, slash);
    if (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))
      return `key prefix "${prefix}" is not a DNS subdomain`;
  }
  if (name.length > 63 || !NAME.test(name)) {
    return `key "${key}" must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`;
  }
  return undefined;
}

function valueProblem(value: string): string | undefined {
  if (value === '' || (value.length <= 63 && NAME.test(value))) return undefined;
  return `value "${value}" must be empty or at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`;
}

/** Why the label selector is not valid, or undefined when it is. Pure; never throws. */
export function labelSelectorProblem(text: string): string | undefined {
  const toks = tokenize(text);
  let i = 0;
  const peek = () => toks[i];
  const isOp = (t: Token | undefined, op: string) => t !== undefined && 'op' in t && t.op === op;
  const describe = (t: Token | undefined) =>
    t === undefined ? 'the end' : 'op' in t ? `"${t.op}"` : `"${t.id}"`;
  for (;;) {
    let tok = toks[i++];
    const negated = isOp(tok, '!');
    if (negated) tok = toks[i++];
    if (tok === undefined || !('id' in tok)) return `expected a label key, found ${describe(tok)}`;
    const bad = keyProblem(tok.id);
    if (bad) return bad;
    const next = peek();
    if (!negated && next !== undefined && !isOp(next, ',')) {
      i++;
      if ('op' in next && ['=', '==', '!='].includes(next.op)) {
        const v = peek();
        if (v !== undefined && 'id' in v) {
          i++;
          const vp = valueProblem(v.id);
          if (vp) return vp;
        }
      } else if ('op' in next && (next.op === '<' || next.op === '>')) {
        const v = toks[i++];
        if (v === undefined || !('id' in v) || !/^-?\d+$/.test(v.id)) {
          return `"${next.op}" needs a whole number, found ${describe(v)}`;
        }
      } else if ('id' in next && (next.id === 'in' || next.id === 'notin')) {
        if (!isOp(toks[i++], '(')) return `"${next.id}" needs a parenthesised list of values`;
        let values = 0;
        for (;;) {
          const v = toks[i++];
          if (v !== undefined && 'id' in v) {
            const vp = valueProblem(v.id);
            if (vp) return vp;
            values++;
            const sep = toks[i++];
            if (isOp(sep, ')')) break;
            if (!isOp(sep, ','))
              return `expected "," or ")" in the values of "${next.id}", found ${describe(sep)}`;
          } else if (isOp(v, ')')) {
            break;
          } else {
            return `unclosed value list of "${next.id}"`;
          }
        }
        if (values === 0) return `"${next.id}" needs at least one value`;
      } else {
        return `expected "=", "==", "!=", "in", "notin" or "," after "${tok.id}", found ${describe(next)}`;
      }
    }
    const end = toks[i++];
    if (end === undefined) return undefined;
    if (!isOp(end, ',')) return `expected "," between requirements, found ${describe(end)}`;
    if (peek() === undefined) return 'a selector must not end with ","';
  }
}
