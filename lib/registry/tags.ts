// Tag listing through the distribution API, on the same auth module and credentials as the digest checks:
// `GET /v2/<name>/tags/list?n=…`, following `Link: <…>; rel="next"` on the registry's own origin only, tolerating
// registries that ignore `n` (everything in one page) or answer `"tags": null`. Capped: a repository with more tags
// than the cap is a clear failure, never a silently truncated list (tags come back in lexical order, so a
// truncated list would hide exactly the newest versions).

import { type AuthTarget, isFailure, type RegistryAuth, type RepositoryRef } from './auth.ts';
import type { Credential } from './credentials.ts';
import { statusFailure } from './failures.ts';
import { failure, type ResolutionFailure } from './resolution.ts';

export interface TagListOptions {
  /** More tags than this is `too-many-tags` (a clear reason, never a truncated list). */
  maxTags: number;
  /** Tags asked for per page (`n`); default 1,000. */
  pageSize?: number;
}

export interface TagListOk {
  ok: true;
  /** Every tag, in the registry's order, without duplicates. */
  tags: string[];
  /** Requests made (pages). */
  pages: number;
}

/** A tag list the registry answered but that cannot be used (not per registry: its circuit stays closed). */
export interface TagListProblem {
  ok: false;
  kind: 'too-many-tags' | 'invalid-tag-list';
  message: string;
}

export type TagListResult = TagListOk | TagListProblem | ResolutionFailure;

const MAX_PAGE_BYTES = 8 * 1024 * 1024;
/** A tag as distribution/reference defines it. */
const TAG = /^[\w][\w.-]{0,127}$/;

/** The `rel="next"` target of a Link header, or undefined. */
export function nextLink(header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (m && /(?:^|;)\s*rel\s*=\s*"?next"?\s*(?:;|$)/i.test(m[2] as string)) return m[1];
  }
  return undefined;
}

export class TagLister {
  readonly #auth: RegistryAuth;

  constructor(auth: RegistryAuth) {
    this.#auth = auth;
  }

  /** Every tag of the repository, with the first credential keyed for it that is not refused. */
  async list(ref: RepositoryRef, creds: readonly Credential[], opts: TagListOptions): Promise<TagListResult> {
    // A listing the registry answered (even an unusable one) ends the search for a credential that is not refused.
    const r = await this.#auth.withCredentials<{ ok: true; value: TagListOk | TagListProblem }>(
      ref,
      creds,
      async (target) => {
        const value = await this.#pages(target, opts);
        return value.ok || isProblem(value) ? { ok: true, value } : value;
      },
    );
    return r.ok ? r.value : r;
  }

  async #pages(
    target: AuthTarget,
    opts: TagListOptions,
  ): Promise<TagListOk | TagListProblem | ResolutionFailure> {
    const { ref, base } = target;
    const pageSize = Math.max(1, Math.min(opts.pageSize ?? 1000, 10_000));
    const seen = new Set<string>();
    const visited = new Set<string>();
    let path = `/v2/${ref.repository}/tags/list?n=${pageSize}`;
    let pages = 0;
    for (;;) {
      // A next link that leads back to a page already read would loop forever.
      if (visited.has(path)) {
        return problem(
          'invalid-tag-list',
          `${ref.familiar}: ${base.origin} paged back to ${path} (a Link loop)`,
        );
      }
      visited.add(path);
      pages++;
      const res = await this.#auth.authorizedFetch(target, {
        method: 'GET',
        path,
        accept: 'application/json',
        maxBodyBytes: MAX_PAGE_BYTES,
        count: 'tagLists',
      });
      if (isFailure(res)) return res;
      if (res.status !== 200)
        return statusFailure(ref, target.cred, res, `${base.origin} (tag list)`, Date.now());
      let body: { tags?: unknown };
      try {
        body = JSON.parse(res.body.toString('utf8')) as { tags?: unknown };
      } catch {
        return problem(
          'invalid-tag-list',
          `${ref.familiar}: ${base.origin} answered a tag list that is not JSON`,
        );
      }
      const tags = body?.tags ?? [];
      if (!Array.isArray(tags)) {
        return problem(
          'invalid-tag-list',
          `${ref.familiar}: ${base.origin} answered a tag list without a tags array`,
        );
      }
      for (const tag of tags) if (typeof tag === 'string' && TAG.test(tag)) seen.add(tag);
      if (seen.size > opts.maxTags) {
        return problem(
          'too-many-tags',
          `${ref.familiar} has more than ${opts.maxTags} tags: raise --max-tags, or narrow the policy to a regexp and a smaller repository`,
        );
      }
      const next = nextLink(res.headers.link);
      if (next === undefined) return { ok: true, tags: [...seen], pages };
      const url = new URL(next, res.url);
      if (url.origin !== base.origin) {
        return failure(
          'redirect-refused',
          `${ref.familiar}: ${base.origin} linked the next tag page to ${url.origin}: not followed (credentials stay with the registry)`,
          { retryable: false },
        );
      }
      path = `${url.pathname}${url.search}`;
    }
  }
}

function isProblem(v: TagListProblem | ResolutionFailure): v is TagListProblem {
  return v.kind === 'too-many-tags' || v.kind === 'invalid-tag-list';
}

function problem(kind: TagListProblem['kind'], message: string): TagListProblem {
  return { ok: false, kind, message };
}
