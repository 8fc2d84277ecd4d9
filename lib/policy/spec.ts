// A container's version policy, read from its workload's annotations. A malformed annotation is never an exception:
// it is a PolicyError naming the annotation, what was wrong and the fix, and the container is left alone.

import semver from 'semver';
import { ANNOTATIONS } from '../model/annotations.ts';
import { parseDuration } from '../shared/duration.ts';

export type Order = 'numeric' | 'semver' | 'alphabetical';

export type Rule =
  | { kind: 'digest' }
  | { kind: 'never' }
  | { kind: 'patch' | 'minor' | 'major' }
  | { kind: 'semver'; range: string }
  | { kind: 'regexp'; pattern: RegExp; source: string; order: Order };

export type Apply = { mode: 'auto' } | { mode: 'notify' } | { mode: 'frontier'; position: number };

export interface PolicySpec {
  /** The annotation the rule came from (the per-container one when it is set). */
  from: string;
  rule: Rule;
  apply: Apply;
  prerelease: boolean;
  /** A candidate's image must have been created at least this long ago (ms), when set. */
  minAgeMs?: number;
}

export interface PolicyError {
  annotation: string;
  message: string;
}

/** The longest `regexp:` pattern accepted (a tag is at most 128 characters). */
export const MAX_PATTERN_LENGTH = 256;

const ORDERS: readonly Order[] = ['numeric', 'semver', 'alphabetical'];

/**
 * The policy for one container: `k8s-auto-updater.io/policy.<container>` wins over `k8s-auto-updater.io/policy`;
 * `apply`, `order`, `prerelease` and `min-age` take the same per-container form.
 */
export function policyFor(
  annotations: Readonly<Record<string, string>> | undefined,
  container: string,
): PolicySpec | PolicyError {
  const a = annotations ?? {};
  const pick = (key: string): [string, string | undefined] => {
    const own = `${key}.${container}`;
    return a[own] !== undefined ? [own, a[own]] : [key, a[key]];
  };
  const [from, ruleText] = pick(ANNOTATIONS.policy);
  const [orderKey, orderText] = pick(ANNOTATIONS.order);
  const rule = parseRule(from, ruleText?.trim() ?? 'digest', orderKey, orderText?.trim());
  if ('annotation' in rule) return rule;
  const [applyKey, applyText] = pick(ANNOTATIONS.apply);
  const apply = parseApply(applyKey, applyText?.trim() ?? 'auto');
  if ('annotation' in apply) return apply;
  const [preKey, preText] = pick(ANNOTATIONS.prerelease);
  const pre = (preText ?? 'false').trim().toLowerCase();
  if (pre !== 'true' && pre !== 'false') {
    return { annotation: preKey, message: `"${preText}" is not a boolean: write "true" or "false"` };
  }
  const spec: PolicySpec = { from, rule, apply, prerelease: pre === 'true' };
  const [ageKey, ageText] = pick(ANNOTATIONS.minAge);
  if (ageText !== undefined) {
    try {
      spec.minAgeMs = parseDuration(ageText);
    } catch (err) {
      return { annotation: ageKey, message: (err as Error).message };
    }
  }
  return spec;
}

function parseRule(
  key: string,
  text: string,
  orderKey: string,
  orderText: string | undefined,
): Rule | PolicyError {
  const bad = (message: string): PolicyError => ({ annotation: key, message });
  if (text === 'digest' || text === 'never' || text === 'patch' || text === 'minor' || text === 'major') {
    return { kind: text };
  }
  if (text.startsWith('semver:')) {
    const range = text.slice('semver:'.length).trim();
    if (range === '' || semver.validRange(range) === null) {
      return bad(`"${range}" is not a semver range: write e.g. semver:~1.4 or semver:">=2 <3"`);
    }
    return { kind: 'semver', range };
  }
  if (text.startsWith('regexp:')) {
    const source = text.slice('regexp:'.length);
    if (source.length > MAX_PATTERN_LENGTH) {
      return bad(
        `the pattern is ${source.length} characters long; at most ${MAX_PATTERN_LENGTH} are accepted`,
      );
    }
    const nested = nestedQuantifier(source);
    if (nested) return bad(`${nested}: rewrite it without a quantifier inside a quantified group`);
    let pattern: RegExp;
    try {
      pattern = new RegExp(source, 'u');
    } catch (err) {
      return bad(`not a regular expression: ${(err as Error).message}`);
    }
    if (!/\(\?<version>/.test(source)) {
      return bad('the pattern has no named group "version": write e.g. regexp:^build-(?<version>\\d+)$');
    }
    const order = orderText ?? 'numeric';
    if (!ORDERS.includes(order as Order)) {
      return { annotation: orderKey, message: `"${order}" is not an order: write ${ORDERS.join(', ')}` };
    }
    return { kind: 'regexp', pattern, source, order: order as Order };
  }
  return bad(
    `"${text}" is not a policy: write digest, patch, minor, major, semver:<range>, regexp:<pattern> or never`,
  );
}

function parseApply(key: string, text: string): Apply | PolicyError {
  if (text === 'auto' || text === 'notify') return { mode: text };
  const m = /^frontier:(\d{1,2})$/.exec(text);
  if (m && Number(m[1]) >= 1) return { mode: 'frontier', position: Number(m[1]) };
  return {
    annotation: key,
    message: `"${text}" is not an apply mode: write auto, notify or frontier:<N> (N ≥ 1)`,
  };
}

/**
 * Patterns whose backtracking can explode on a 128-character tag (a quantified group that itself holds a quantifier,
 * like `(a+)+` or `(\d*\.)*`) are refused: the annotation is written by whoever may edit the workload, and one such
 * pattern would stall the run for everyone. Returns a description of the first such group, or undefined.
 */
export function nestedQuantifier(source: string): string | undefined {
  // Per open group: whether a quantifier was seen inside it.
  const stack: { start: number; quantified: boolean }[] = [];
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === '(') stack.push({ start: i, quantified: false });
    else if (c === ')') {
      const group = stack.pop();
      if (!group) continue;
      const next = source[i + 1];
      const isQuantified = next === '*' || next === '+' || next === '{' || next === '?';
      const unbounded =
        next === '*' || next === '+' || (next === '{' && /^\{\d*,\}/.test(source.slice(i + 1)));
      if (group.quantified && unbounded) {
        return `the group ${source.slice(group.start, i + 1)} is repeated and holds a repetition itself`;
      }
      const parent = stack.at(-1);
      if (parent && (group.quantified || isQuantified)) parent.quantified = true;
    } else if (c === '*' || c === '+' || (c === '{' && /^\{\d*,\d*\}/.test(source.slice(i)))) {
      const top = stack.at(-1);
      if (top) top.quantified = true;
    }
  }
  return undefined;
}
