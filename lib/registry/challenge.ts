// Parses `WWW-Authenticate` headers (RFC 7235 challenges) so the client can follow a registry's Bearer or Basic
// auth: several challenges per header, quoted values with commas and escapes, token68, case-insensitive names.

export interface Challenge {
  /** Lower-cased auth scheme: 'bearer', 'basic', or whatever else the server sent. */
  scheme: 'bearer' | 'basic' | (string & {});
  /** Auth params, names lower-cased, values exactly as sent (realm URLs are case-sensitive). */
  params: Record<string, string>;
  /** The token68 form (`Negotiate abc==`), when the challenge carries one instead of params. */
  token68?: string;
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*/;

/** Parses every challenge in a header value. Tolerates malformed input by skipping what it cannot read; never throws. */
export function parseWWWAuthenticate(header: string): Challenge[] {
  if (typeof header !== 'string') return [];
  const p = new Parser(header);
  const out: Challenge[] = [];
  while (!p.done()) {
    p.skipSeparators();
    if (p.done()) break;
    const scheme = p.token();
    if (scheme === '') {
      p.advance(); // junk character: skip it rather than give up on later challenges
      continue;
    }
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    p.skipSpaces();
    const t68 = p.tryToken68();
    if (t68 !== undefined) {
      challenge.token68 = t68;
      continue;
    }
    p.readParams(challenge.params);
  }
  return out;
}

/** The challenge to answer: Bearer when offered (registries that offer both prefer tokens), else Basic. */
export function preferredChallenge(challenges: Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
}

class Parser {
  readonly s: string;
  i = 0;
  constructor(s: string) {
    this.s = s;
  }
  done(): boolean {
    return this.i >= this.s.length;
  }
  advance(): void {
    this.i++;
  }
  skipSpaces(): void {
    while (this.i < this.s.length && (this.s[this.i] === ' ' || this.s[this.i] === '\t')) this.i++;
  }
  skipSeparators(): void {
    while (this.i < this.s.length && /[\s,]/.test(this.s[this.i] ?? '')) this.i++;
  }
  token(): string {
    const start = this.i;
    while (this.i < this.s.length && TCHAR.test(this.s[this.i] ?? '')) this.i++;
    return this.s.slice(start, this.i);
  }
  /** token68 only when it stands alone up to the next ',' or the end (else it is the start of `name=value`). */
  tryToken68(): string | undefined {
    const m = TOKEN68.exec(this.s.slice(this.i));
    if (!m) return undefined;
    let j = this.i + m[0].length;
    while (j < this.s.length && (this.s[j] === ' ' || this.s[j] === '\t')) j++;
    if (j < this.s.length && this.s[j] !== ',') return undefined;
    this.i += m[0].length;
    return m[0];
  }
  /** Reads `name=value` pairs until the next challenge's scheme or the end. */
  readParams(params: Record<string, string>): void {
    for (;;) {
      this.skipSeparators();
      if (this.done()) return;
      const start = this.i;
      const name = this.token();
      if (name === '') {
        this.advance();
        continue;
      }
      this.skipSpaces();
      if (this.s[this.i] !== '=') {
        // Not a param: a new challenge begins here.
        this.i = start;
        return;
      }
      this.i++;
      this.skipSpaces();
      const value = this.s[this.i] === '"' ? this.quoted() : this.bareValue();
      const key = name.toLowerCase();
      // RFC 7235: a param name occurs once per challenge; keep the first so a later duplicate cannot override realm.
      if (!Object.hasOwn(params, key)) params[key] = value;
    }
  }
  quoted(): string {
    this.i++; // opening quote
    let out = '';
    while (this.i < this.s.length) {
      const c = this.s[this.i] as string;
      if (c === '\\' && this.i + 1 < this.s.length) {
        out += this.s[this.i + 1];
        this.i += 2;
        continue;
      }
      this.i++;
      if (c === '"') return out;
      out += c;
    }
    return out; // unterminated: take what there is
  }
  /** A token per RFC, but registries send unquoted URLs (`realm=https://…`): take everything up to ',' or space. */
  bareValue(): string {
    const start = this.i;
    while (this.i < this.s.length && !/[\s,]/.test(this.s[this.i] ?? '')) this.i++;
    return this.s.slice(start, this.i);
  }
}
