// Tag listing: the real CNCF registry paging through 9,000 tags of one repository with n and Link, bearer auth with
// a pull secret, the max-tags cap; and loopback registries that misbehave the ways real ones do ("tags": null, n
// ignored) or worse (a next link to another origin, a Link loop, a body that is not JSON).

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { parseImageReference } from '../../lib/image/reference.ts';
import { RegistryClient } from '../../lib/registry/client.ts';
import { Credential } from '../../lib/registry/credentials.ts';
import { nextLink, TagLister } from '../../lib/registry/tags.ts';
import { pushImage, startRegistry } from '../harness/registry/index.ts';
import { tagImage } from '../harness/registry/tags.ts';
import { requireBin } from '../harness/require-bin.ts';

t.test('when a Link header is read then only the rel="next" target is taken', async (t) => {
  t.equal(nextLink('</v2/a/tags/list?last=x&n=2>; rel="next"'), '/v2/a/tags/list?last=x&n=2');
  t.equal(nextLink('<https://r/v2/a/tags/list?last=x>; rel=next'), 'https://r/v2/a/tags/list?last=x');
  t.equal(nextLink('</p1>; rel="prev", </p3>; rel="next"'), '/p3');
  t.equal(nextLink('</p1>; rel="prev"'), undefined);
  t.equal(nextLink(undefined), undefined);
});

t.test(
  'when the real registry holds 9,000 tags then every one is listed (distribution 2.8 ignores n: one page)',
  async (t) => {
    if (!requireBin(t, 'docker-registry')) return;
    const reg = await startRegistry();
    t.teardown(() => reg.stop());
    await pushImage(reg, 'lib/node', '0.0.0');
    const tags = Array.from({ length: 9_000 }, (_, i) => `${Math.floor(i / 100)}.${i % 100}.0`);
    await tagImage(reg, 'lib/node', '0.0.0', tags);
    const client = new RegistryClient({ insecureRegistries: [reg.host] });
    const lister = new TagLister(client.auth);
    const ref = parseImageReference(`${reg.host}/lib/node:0.0.0`);

    const all = await lister.list(ref, [], { maxTags: 10_000, pageSize: 1000 });
    if (!all.ok) throw new Error(all.message);
    t.equal(all.tags.length, 9_000);
    t.same(new Set(all.tags), new Set(tags));
    t.equal(all.pages, 1, "Debian's distribution 2.8 answers every tag at once, with no Link");
    t.equal(client.stats.tagLists, 1);
    t.equal(client.stats.gets, 0, 'tag pages are not counted as manifest GETs (pulls)');

    const capped = await lister.list(ref, [], { maxTags: 5_000, pageSize: 1000 });
    t.match(capped, { ok: false, kind: 'too-many-tags', message: /more than 5000 tags: raise --max-tags/ });
  },
);

t.test(
  'when the registry wants bearer tokens then the pull secret gets a pull-scoped token for the listing',
  async (t) => {
    if (!requireBin(t, 'docker-registry')) return;
    const reg = await startRegistry({ auth: 'bearer' });
    t.teardown(() => reg.stop());
    await pushImage(reg, 'team/app', '1.0');
    await tagImage(reg, 'team/app', '1.0', ['1.1', '2.0']);
    const client = new RegistryClient({ insecureRegistries: [reg.host, new URL(reg.tokenServer!.url).host] });
    const ref = parseImageReference(`${reg.host}/team/app:1.0`);
    const { username, password } = reg.credentials!;
    const cred = new Credential({ rawKey: reg.host, source: 'secret shop/pull', username, password });
    const res = await new TagLister(client.auth).list(ref, [cred], { maxTags: 100 });
    if (!res.ok) throw new Error(res.message);
    t.same([...res.tags].sort(), ['1.0', '1.1', '2.0']);
    const scopes = reg.tokenServer!.requests().map((r) => r.scope);
    t.ok(scopes.includes('repository:team/app:pull'), JSON.stringify(scopes));
    t.ok(
      reg.tokenServer!.requests().every((r) => r.user === username),
      'every token was asked for with the secret',
    );
  },
);

/** A loopback "registry" answering tag lists with `answer(url)`; records every request. */
async function fake(
  t: Test,
  answer: (url: URL, req: http.IncomingMessage) => { status?: number; body: string; link?: string },
): Promise<{ host: string; seen: Array<{ url: string; auth?: string }> }> {
  const seen: Array<{ url: string; auth?: string }> = [];
  const server = http.createServer((req, res) => {
    seen.push({
      url: req.url ?? '',
      ...(req.headers.authorization ? { auth: req.headers.authorization } : {}),
    });
    if (req.url === '/v2/') {
      res.writeHead(200).end('{}');
      return;
    }
    const a = answer(new URL(req.url ?? '/', 'http://x'), req);
    res.writeHead(a.status ?? 200, {
      'content-type': 'application/json',
      ...(a.link ? { link: a.link } : {}),
    });
    res.end(a.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

t.test(
  'when a registry pages by the spec then 9,000 tags come in exactly the pages needed, in order',
  async (t) => {
    const all = Array.from({ length: 9_000 }, (_, i) => `${Math.floor(i / 100)}.${i % 100}.0`).sort();
    // The distribution spec's paging: n per page, `last` the previous page's last tag, a Link while more remain.
    const reg = await fake(t, (url) => {
      const n = Number(url.searchParams.get('n') ?? all.length);
      const last = url.searchParams.get('last');
      const from = last === null ? 0 : all.indexOf(last) + 1;
      const page = all.slice(from, from + n);
      const more = from + n < all.length;
      return {
        body: JSON.stringify({ name: 'lib/node', tags: page }),
        ...(more
          ? {
              link: `</v2/lib/node/tags/list?n=${n}&last=${encodeURIComponent(page.at(-1) as string)}>; rel="next"`,
            }
          : {}),
      };
    });
    const client = new RegistryClient({ insecureRegistries: [reg.host] });
    const res = await new TagLister(client.auth).list(parseImageReference(`${reg.host}/lib/node:1`), [], {
      maxTags: 10_000,
      pageSize: 1000,
    });
    if (!res.ok) throw new Error(res.message);
    t.same(res.tags, all, 'every tag once, in the registry order');
    t.equal(res.pages, 9);
    t.equal(client.stats.tagLists, 9);
    t.same(
      reg.seen
        .filter((s) => s.url.includes('tags/list'))
        .map((s) => new URL(s.url, 'http://x').searchParams.get('n')),
      Array(9).fill('1000'),
      'each page asks for n=1000',
    );
    const capped = await new TagLister(client.auth).list(parseImageReference(`${reg.host}/lib/node:1`), [], {
      maxTags: 2_500,
      pageSize: 1000,
    });
    t.match(capped, { ok: false, kind: 'too-many-tags' });
    t.equal(client.stats.tagLists, 12, 'the cap stops paging at the first page over it (three more)');
  },
);

t.test('when a registry answers "tags": null or ignores n then the listing still succeeds', async (t) => {
  const nul = await fake(t, () => ({ body: '{"name":"a","tags":null}' }));
  const all = await fake(t, () => ({
    body: JSON.stringify({ name: 'a', tags: Array.from({ length: 2500 }, (_, i) => `v${i}`) }),
  }));
  for (const [f, want] of [
    [nul, 0],
    [all, 2500],
  ] as const) {
    const client = new RegistryClient({ insecureRegistries: [f.host] });
    const res = await new TagLister(client.auth).list(parseImageReference(`${f.host}/a:1`), [], {
      maxTags: 10_000,
      pageSize: 100,
    });
    if (!res.ok) throw new Error(res.message);
    t.equal(res.tags.length, want);
    t.equal(res.pages, 1);
  }
});

t.test(
  'when the next link leads to another origin then it is not followed and the secret never leaves',
  async (t) => {
    const other = await fake(t, () => ({ body: '{"tags":["evil"]}' }));
    const reg = await fake(t, () => ({
      body: '{"tags":["1.0"]}',
      link: `<http://${other.host}/v2/a/tags/list?last=1.0>; rel="next"`,
    }));
    const client = new RegistryClient({ insecureRegistries: [reg.host, other.host] });
    const cred = new Credential({ rawKey: reg.host, source: 'test', username: 'u', password: 'p4ss' });
    const res = await new TagLister(client.auth).list(parseImageReference(`${reg.host}/a:1`), [cred], {
      maxTags: 100,
    });
    t.match(res, { ok: false, kind: 'redirect-refused', message: /not followed/ });
    t.equal(other.seen.length, 0, 'nothing was sent to the other origin');
  },
);

t.test(
  'when pages loop or a page is not a tag list then the listing fails for that repository only',
  async (t) => {
    const loop = await fake(t, () => ({
      body: '{"tags":["1.0"]}',
      link: '</v2/a/tags/list?n=1000>; rel="next"',
    }));
    const junk = await fake(t, () => ({ body: '<html>maintenance</html>' }));
    const shape = await fake(t, () => ({ body: '{"tags":"1.0"}' }));
    const rows: [string, RegExp][] = [
      [loop.host, /Link loop/],
      [junk.host, /not JSON/],
      [shape.host, /without a tags array/],
    ];
    t.equal(rows.length, 3);
    for (const [host, message] of rows) {
      const client = new RegistryClient({ insecureRegistries: [host] });
      const res = await new TagLister(client.auth).list(parseImageReference(`${host}/a:1`), [], {
        maxTags: 100,
      });
      t.match(res, { ok: false, kind: 'invalid-tag-list', message }, host);
    }
    t.equal(
      loop.seen.filter((s) => s.url.includes('tags/list')).length,
      1,
      'the page linked again is not asked for',
    );
  },
);
