// Version tags: what part of a tag is a version, what family it belongs to, and how two versions compare.
//
// A tag is  <prefix><n>(.<n>)*[-<prerelease>][<variant>][-r<revision>]  where
//   - prefix: `v`/`V`, or words ending in `-`/`_` (`release-`, `alpine3.16-`): part of the family;
//   - the dotted numbers are the version; their count is the tag's shape (`1.21` and `1.21.0` are different shapes:
//     one is usually a floating alias of the other);
//   - a prerelease is a first suffix segment naming one (`-rc.1`, `-beta2`, `-alpha`): it sorts below its release;
//   - the variant is the rest of the suffix (`-alpine`, `-alpine3.16`, `-debian-12`): part of the family, so
//     `3.2.1-alpine` only ever moves to another `*-alpine`;
//   - a trailing `-r<N>` is a package revision (Alpine, Bitnami): compared numerically after the version.
// Components compare as numbers of any length (`3.9` < `3.10`, `2024.05.01` < `2024.11.30`), never as strings.

export interface VersionTag {
  tag: string;
  prefix: string;
  /** The version's components, as decimal digit strings without leading zeros ("0" for zero). */
  components: string[];
  /** The prerelease label without its leading dash (`rc.1`), or undefined for a release. */
  prerelease?: string;
  /** The variant suffix including its leading dash (`-alpine`), or "". */
  variant: string;
  /** The package revision (`-r3` → 3), or undefined. */
  revision?: number;
}

const PREFIX = /^(?:[vV]|(?:[A-Za-z][A-Za-z0-9_.]*[-_])+)?/;
const NUMBERS = /^\d{1,20}(?:\.\d{1,20}){0,7}/;
const PRERELEASE =
  /^-((?:alpha|beta|rc|pre|preview|dev|snapshot|nightly|canary|next|milestone|m)(?:[.-]?\d+)*)(?=$|-)/i;
const REVISION = /-r(\d{1,9})$/;

/** Parses a tag as a version, or undefined when it is none (`latest`, `main`, a commit hash). */
export function parseVersionTag(tag: string): VersionTag | undefined {
  const prefix = PREFIX.exec(tag)?.[0] ?? '';
  const rest = tag.slice(prefix.length);
  const numbers = NUMBERS.exec(rest)?.[0];
  if (numbers === undefined) return undefined;
  let suffix = rest.slice(numbers.length);
  // `1.2.3a` or `1.2.3.x`: the version runs into something that is not a separator: not a version tag.
  if (suffix !== '' && suffix[0] !== '-' && suffix[0] !== '_') return undefined;
  const out: VersionTag = {
    tag,
    prefix,
    components: numbers.split('.').map((n) => n.replace(/^0+(?=\d)/, '')),
    variant: '',
  };
  const pre = PRERELEASE.exec(suffix);
  if (pre) {
    out.prerelease = pre[1] as string;
    suffix = suffix.slice(pre[0].length);
  }
  const rev = REVISION.exec(suffix);
  if (rev) {
    out.revision = Number(rev[1]);
    suffix = suffix.slice(0, rev.index);
  }
  out.variant = suffix;
  return out;
}

/** The family key: candidates must share it with the running tag (prefix, variant and shape). */
export function familyOf(v: VersionTag): string {
  return `${v.prefix}\u0000${v.components.length}\u0000${v.variant}`;
}

/** Same prefix and variant, whatever the number of components. */
export function sameLine(a: VersionTag, b: VersionTag): boolean {
  return a.prefix === b.prefix && a.variant === b.variant;
}

function compareDigits(a: string, b: string): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Compares the numeric parts (missing components count as 0), then release above prerelease, then the revision. */
export function compareVersions(a: VersionTag, b: VersionTag): number {
  const n = Math.max(a.components.length, b.components.length);
  for (let i = 0; i < n; i++) {
    const c = compareDigits(a.components[i] ?? '0', b.components[i] ?? '0');
    if (c !== 0) return c;
  }
  if (a.prerelease !== b.prerelease) {
    if (a.prerelease === undefined) return 1;
    if (b.prerelease === undefined) return -1;
    const c = comparePrerelease(a.prerelease, b.prerelease);
    if (c !== 0) return c;
  }
  const c = (a.revision ?? 0) - (b.revision ?? 0);
  if (c !== 0) return Math.sign(c);
  // Equal as versions (`1.2` and `1.2.0`): the longer shape sorts higher, so a tie has a stable order.
  return Math.sign(a.components.length - b.components.length);
}

/** Semver's prerelease order: identifiers split on `.`/`-` and letter–digit boundaries; numbers compare numerically. */
function comparePrerelease(a: string, b: string): number {
  const ids = (s: string) => s.toLowerCase().split(/[.-]|(?<=\D)(?=\d)|(?<=\d)(?=\D)/);
  const x = ids(a);
  const y = ids(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const p = x[i];
    const q = y[i];
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    const pn = /^\d+$/.test(p);
    const qn = /^\d+$/.test(q);
    if (pn && qn) {
      const c = compareDigits(p.replace(/^0+(?=\d)/, ''), q.replace(/^0+(?=\d)/, ''));
      if (c !== 0) return c;
    } else if (pn !== qn) return pn ? -1 : 1;
    else if (p !== q) return p < q ? -1 : 1;
  }
  return 0;
}

/** 1-based position of the first component that differs, or 0 when all do not (prerelease/revision changes only). */
export function firstChangedComponent(from: VersionTag, to: VersionTag): number {
  const n = Math.max(from.components.length, to.components.length);
  for (let i = 0; i < n; i++) {
    if (compareDigits(from.components[i] ?? '0', to.components[i] ?? '0') !== 0) return i + 1;
  }
  return 0;
}

/** The tag as a semver string (`v1.4` → `1.4.0`, `1.2.3-rc.1` → `1.2.3-rc.1`), or undefined beyond 3 components. */
export function asSemver(v: VersionTag): string | undefined {
  if (v.components.length > 3) return undefined;
  const [major = '0', minor = '0', patch = '0'] = v.components;
  const pre = v.prerelease?.replace(/[^0-9A-Za-z.-]/g, '');
  return `${major}.${minor}.${patch}${pre ? `-${pre}` : ''}`;
}
