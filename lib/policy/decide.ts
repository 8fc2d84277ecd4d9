// What a version policy does with one container: rank the listed tags (pure), let the caller check the few
// candidates that matter against the registry (digest, platforms, age), then decide — with a reason for everything.
//
//   const ranking = rankCandidates(spec, running, tags, lastApplied);
//   for (let c; (c = nextToCheck(ranking, facts)); ) facts.set(c.tag, await check(c));
//   const decision = decide(ranking, facts);

import semver from 'semver';
import {
  asSemver,
  compareVersions,
  firstChangedComponent,
  parseVersionTag,
  sameLine,
  type VersionTag,
} from '../image/version.ts';
import type { PolicySpec } from './spec.ts';

/** Why a policy decided what it did; each is documented in docs/policies.md. */
export type PolicyReason =
  /** `update`: a newer version the policy allows, checked against the registry. */
  | 'newer-version'
  /** `notify`: `apply: notify` (monitor only). */
  | 'notify-only'
  /** `notify`: the newer version changes a component at or left of the frontier. */
  | 'beyond-frontier'
  /** `notify`: a newer version with another number of components (`1.22` beside `1.21.0`: usually a floating alias). */
  | 'shape-differs'
  /** `none`: nothing newer that the policy allows. */
  | 'up-to-date'
  /** `none`: the running version is below the one a policy run last set: a human rolled back; nothing newer yet. */
  | 'rolled-back-by-human'
  /** `none`: the best candidate lacks a platform the workload's pods run on. */
  | 'platform-missing'
  /** `none`: the best candidate is younger than `min-age`. */
  | 'too-new'
  /** `none`: the best candidate is the image already running (a re-tag is not an update). */
  | 'same-digest'
  /** `none`: the candidate could not be checked (the registry refused or failed); the message says how. */
  | 'check-failed'
  /** `none`: the running tag is not a version (`latest`): the digest checks keep it current. */
  | 'not-a-version'
  /** `none`: the policy is `digest` (the default): the digest checks keep it current. */
  | 'digest-policy'
  /** `none`: the policy is `never`. */
  | 'policy-never'
  /** `none`: an annotation does not parse, or the running tag does not fit the policy; the message names the fix. */
  | 'policy-invalid';

export interface Candidate {
  tag: string;
  /** May the policy apply it by itself, or only report it (and why)? */
  auto: boolean;
  held?: 'notify-only' | 'beyond-frontier' | 'shape-differs';
}

export interface Ranking {
  running: string;
  /** Tags considered (listed, parsed, of the running tag's family). */
  considered: number;
  /** Tags that do not parse as versions of any kind (ignored, counted). */
  unparsed: number;
  /** Newer candidates the policy allows, best first. */
  ranked: Candidate[];
  /** Set when a human rolled back below the tag a policy run last set. */
  rolledBackFrom?: string;
  /** Set when no ranking was possible: the decision is made already. */
  outcome?: { reason: PolicyReason; message?: string };
}

/** What the registry says about one candidate. */
export interface CandidateFacts {
  /** The candidate's digest (from a HEAD). */
  digest?: string;
  /** Platforms (`linux/arm64`) the workload runs on that the candidate's manifest does not cover. */
  missingPlatforms?: string[];
  /** The image config's `created`, in ms since the epoch (only fetched when `min-age` is set). */
  createdMs?: number;
  /** The check failed: the registry refused or was unreachable. */
  error?: string;
}

export type Action = 'update' | 'notify' | 'none';

export interface Decision {
  action: Action;
  reason: PolicyReason;
  from: string;
  /** The candidate acted on, notified, or blocked (platform, age, digest). */
  to?: string;
  message?: string;
  /** Tags of the running tag's family that were considered. */
  candidates: number;
  /** A newer version than `to` that the policy only reports (frontier, notify, shape). */
  newest?: { tag: string; reason: PolicyReason };
  /** Set when the running version is below the tag a policy run last set (a human rollback, respected). */
  rolledBackFrom?: string;
}

/** At most this many candidates are checked against the registry per container (one HEAD each, maybe a GET). */
export const MAX_CHECKS = 3;

interface Comparable {
  tag: string;
  version?: VersionTag;
  /** For regexp policies: the extracted `version` group. */
  key?: string;
  components?: string[];
}

/** Ranks `tags` for the container running `running` under `spec`. `lastApplied`: the tag a policy run last set. */
export function rankCandidates(
  spec: PolicySpec,
  running: string,
  tags: readonly string[],
  lastApplied?: string,
): Ranking {
  const base: Ranking = { running, considered: 0, unparsed: 0, ranked: [] };
  if (spec.rule.kind === 'digest') return { ...base, outcome: { reason: 'digest-policy' } };
  if (spec.rule.kind === 'never') return { ...base, outcome: { reason: 'policy-never' } };
  return spec.rule.kind === 'regexp'
    ? rankByPattern(spec, running, tags, lastApplied)
    : rankVersions(spec, running, tags, lastApplied);
}

function rankVersions(
  spec: PolicySpec,
  running: string,
  tags: readonly string[],
  lastApplied?: string,
): Ranking {
  const current = parseVersionTag(running);
  const out: Ranking = { running, considered: 0, unparsed: 0, ranked: [] };
  if (!current) {
    return { ...out, outcome: { reason: 'not-a-version', message: `"${running}" is not a version tag` } };
  }
  const rule = spec.rule;
  if (rule.kind === 'semver' && asSemver(current) === undefined) {
    return {
      ...out,
      outcome: {
        reason: 'policy-invalid',
        message: `${spec.from}: "${running}" has ${current.components.length} components; a semver range needs at most 3 — use major, minor, patch or regexp:`,
      },
    };
  }
  // The floor: never below what runs; after a human rollback, never back up to (or below) what the policy set.
  let floor = current;
  const last = lastApplied === undefined ? undefined : parseVersionTag(lastApplied);
  if (last && sameLine(last, current) && compareVersions(current, last) < 0) {
    out.rolledBackFrom = lastApplied;
    floor = last;
  }
  const found: VersionTag[] = [];
  for (const tag of new Set(tags)) {
    const v = parseVersionTag(tag);
    if (!v) {
      out.unparsed++;
      continue;
    }
    if (!sameLine(v, current)) continue;
    out.considered++;
    if (compareVersions(v, floor) <= 0 || v.tag === running) continue;
    if (v.prerelease !== undefined && !prereleaseAllowed(spec, current, v)) continue;
    const changed = firstChangedComponent(current, v);
    if (rule.kind === 'patch' && changed !== 0 && changed <= 2) continue;
    if (rule.kind === 'minor' && changed !== 0 && changed <= 1) continue;
    if (rule.kind === 'semver') {
      const s = asSemver(v);
      if (s === undefined || !semver.satisfies(s, rule.range, { includePrerelease: true })) continue;
    }
    found.push(v);
  }
  found.sort((a, b) => compareVersions(b, a));
  out.ranked = found.map((v) =>
    hold(
      spec,
      { tag: v.tag, version: v, components: v.components },
      { tag: running, version: current, components: current.components },
    ),
  );
  return finish(out);
}

/** A prerelease only with `prerelease: "true"`, or when the running tag is a prerelease of the same version. */
function prereleaseAllowed(spec: PolicySpec, current: VersionTag, v: VersionTag): boolean {
  if (spec.prerelease) return true;
  if (current.prerelease === undefined) return false;
  return firstChangedComponent(current, v) === 0 && current.components.length === v.components.length;
}

function rankByPattern(
  spec: PolicySpec,
  running: string,
  tags: readonly string[],
  lastApplied?: string,
): Ranking {
  if (spec.rule.kind !== 'regexp') throw new Error('unreachable');
  const { pattern, order, source } = spec.rule;
  const out: Ranking = { running, considered: 0, unparsed: 0, ranked: [] };
  const extract = (tag: string): Comparable | undefined => {
    const key = pattern.exec(tag)?.groups?.version;
    if (key === undefined || key === '') return undefined;
    if (order === 'numeric') {
      const components = key.match(/\d+/g)?.map((n) => n.replace(/^0+(?=\d)/, ''));
      return components ? { tag, key, components } : undefined;
    }
    if (order === 'semver') return semver.valid(key, { loose: true }) ? { tag, key } : undefined;
    return { tag, key };
  };
  const current = extract(running);
  if (!current) {
    return {
      ...out,
      outcome: {
        reason: 'policy-invalid',
        message: `${spec.from}: the running tag "${running}" does not match ${source} with a ${order} "version" group; fix the pattern or the order`,
      },
    };
  }
  const cmp = comparer(order);
  let floor = current;
  const last = lastApplied === undefined ? undefined : extract(lastApplied);
  if (last && cmp(current, last) < 0) {
    out.rolledBackFrom = lastApplied;
    floor = last;
  }
  const found: Comparable[] = [];
  for (const tag of new Set(tags)) {
    const c = extract(tag);
    if (!c) {
      out.unparsed++;
      continue;
    }
    out.considered++;
    if (tag !== running && cmp(c, floor) > 0) found.push(c);
  }
  found.sort((a, b) => cmp(b, a));
  out.ranked = found.map((c) => hold(spec, c, current));
  return finish(out);
}

function comparer(order: 'numeric' | 'semver' | 'alphabetical'): (a: Comparable, b: Comparable) => number {
  if (order === 'semver') return (a, b) => semver.compare(a.key as string, b.key as string, { loose: true });
  if (order === 'alphabetical')
    return (a, b) => ((a.key as string) < (b.key as string) ? -1 : a.key === b.key ? 0 : 1);
  return (a, b) => {
    const x = a.components as string[];
    const y = b.components as string[];
    for (let i = 0; i < Math.max(x.length, y.length); i++) {
      const p = x[i] ?? '0';
      const q = y[i] ?? '0';
      if (p.length !== q.length) return p.length < q.length ? -1 : 1;
      if (p !== q) return p < q ? -1 : 1;
    }
    return 0;
  };
}

/** Whether the policy may apply a candidate by itself: shape, then the apply mode. */
function hold(spec: PolicySpec, c: Comparable, current: Comparable): Candidate {
  const shaped = c.version && current.version;
  if (shaped && c.version?.components.length !== current.version?.components.length) {
    return { tag: c.tag, auto: false, held: 'shape-differs' };
  }
  if (spec.apply.mode === 'notify') return { tag: c.tag, auto: false, held: 'notify-only' };
  if (spec.apply.mode === 'frontier') {
    const from = current.components;
    const to = c.components;
    // A frontier needs numbered components; an alphabetical order has none, so its versions are only reported.
    if (!from || !to) return { tag: c.tag, auto: false, held: 'beyond-frontier' };
    let changed = 0;
    for (let i = 0; i < Math.max(from.length, to.length) && changed === 0; i++) {
      if ((from[i] ?? '0') !== (to[i] ?? '0')) changed = i + 1;
    }
    if (changed !== 0 && changed <= spec.apply.position)
      return { tag: c.tag, auto: false, held: 'beyond-frontier' };
  }
  return { tag: c.tag, auto: true };
}

function finish(r: Ranking): Ranking {
  if (r.ranked.length === 0 && r.rolledBackFrom !== undefined) {
    r.outcome = {
      reason: 'rolled-back-by-human',
      message: `runs "${r.running}", below "${r.rolledBackFrom}" that a policy run set: kept until a newer version appears`,
    };
  }
  return r;
}

/** Why a checked candidate cannot be applied, or undefined when it can. */
function blocked(spec: PolicySpec, facts: CandidateFacts, runningDigest: string | undefined, now: number) {
  if (facts.error !== undefined) return { reason: 'check-failed' as const, message: facts.error };
  if (facts.digest !== undefined && facts.digest === runningDigest) {
    return { reason: 'same-digest' as const, message: `the same image (${facts.digest}) as the one running` };
  }
  if (facts.missingPlatforms && facts.missingPlatforms.length > 0) {
    return {
      reason: 'platform-missing' as const,
      message: `no image for ${facts.missingPlatforms.join(', ')}`,
    };
  }
  if (spec.minAgeMs !== undefined) {
    if (facts.createdMs === undefined) {
      return {
        reason: 'too-new' as const,
        message: 'the image records no creation time, so min-age cannot hold',
      };
    }
    if (now - facts.createdMs < spec.minAgeMs) {
      return { reason: 'too-new' as const, message: `created ${new Date(facts.createdMs).toISOString()}` };
    }
  }
  return undefined;
}

export interface DecideContext {
  spec: PolicySpec;
  /** The digest the container runs (its imageID), to recognise a re-tag. */
  runningDigest?: string;
  now: number;
}

/** The next candidate to check against the registry, or undefined when the decision can be made. */
export function nextToCheck(
  ranking: Ranking,
  facts: ReadonlyMap<string, CandidateFacts>,
  ctx: DecideContext,
): Candidate | undefined {
  if (ranking.outcome) return undefined;
  let checked = 0;
  for (const c of ranking.ranked.filter((x) => x.auto)) {
    const f = facts.get(c.tag);
    if (!f) return checked < MAX_CHECKS ? c : undefined;
    checked++;
    if (!blocked(ctx.spec, f, ctx.runningDigest, ctx.now)) break;
    if (checked >= MAX_CHECKS) break;
  }
  // The best version the policy only reports, when it is newer than what would be applied: is it really new?
  const held = ranking.ranked.find((x) => !x.auto);
  if (held && ranking.ranked.indexOf(held) < firstApplicable(ranking, facts, ctx) && !facts.has(held.tag))
    return held;
  return undefined;
}

function firstApplicable(
  ranking: Ranking,
  facts: ReadonlyMap<string, CandidateFacts>,
  ctx: DecideContext,
): number {
  const i = ranking.ranked.findIndex((c) => {
    const f = facts.get(c.tag);
    return c.auto && f !== undefined && !blocked(ctx.spec, f, ctx.runningDigest, ctx.now);
  });
  return i === -1 ? ranking.ranked.length : i;
}

/** The decision, once nextToCheck() has nothing more to check. */
export function decide(
  ranking: Ranking,
  facts: ReadonlyMap<string, CandidateFacts>,
  ctx: DecideContext,
): Decision {
  const base: Pick<Decision, 'from' | 'candidates' | 'rolledBackFrom'> = {
    from: ranking.running,
    candidates: ranking.considered,
  };
  if (ranking.rolledBackFrom !== undefined) base.rolledBackFrom = ranking.rolledBackFrom;
  if (ranking.outcome) {
    const d: Decision = { ...base, action: 'none', reason: ranking.outcome.reason };
    if (ranking.outcome.message !== undefined) d.message = ranking.outcome.message;
    if (ranking.rolledBackFrom !== undefined) d.to = ranking.rolledBackFrom;
    return d;
  }
  const apply = firstApplicable(ranking, facts, ctx);
  const chosen = ranking.ranked[apply];
  // The newest reported-only version above the chosen one, unless it turned out to be the running image again.
  const held = ranking.ranked.slice(0, apply).find((c) => {
    const f = c.auto ? undefined : facts.get(c.tag);
    return !c.auto && !(f?.digest !== undefined && f.digest === ctx.runningDigest);
  });
  const heldNote = held && { tag: held.tag, reason: held.held as PolicyReason };
  if (chosen) {
    const d: Decision = { ...base, action: 'update', reason: 'newer-version', to: chosen.tag };
    if (heldNote) d.newest = heldNote;
    return d;
  }
  if (heldNote) return { ...base, action: 'notify', reason: heldNote.reason, to: heldNote.tag };
  // Nothing applicable: the first checked candidate's block is the reason.
  for (const c of ranking.ranked) {
    const f = c.auto ? facts.get(c.tag) : undefined;
    const why = f && blocked(ctx.spec, f, ctx.runningDigest, ctx.now);
    if (why) return { ...base, action: 'none', reason: why.reason, to: c.tag, message: why.message };
  }
  const d: Decision = { ...base, action: 'none', reason: 'up-to-date' };
  if (ranking.rolledBackFrom !== undefined) {
    d.reason = 'rolled-back-by-human';
    d.to = ranking.rolledBackFrom;
  }
  return d;
}
