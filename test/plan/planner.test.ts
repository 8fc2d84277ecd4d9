import t from 'tap';
import {
  buildPlan,
  candidateKey,
  candidates,
  type ObservedPod,
  type PlanContext,
  type TagState,
} from '../../lib/plan/planner.ts';

const OLD = `sha256:${'a'.repeat(64)}`;
const NEW = `sha256:${'b'.repeat(64)}`;
const CHILD = `sha256:${'c'.repeat(64)}`;
const CONFIG = `sha256:${'d'.repeat(64)}`;

interface PodOpts {
  name?: string;
  image?: string;
  imageID?: string | undefined;
  pullPolicy?: string | undefined;
  owner?: { kind: string; name: string } | null;
  phase?: string;
  ready?: boolean;
  terminating?: boolean;
  annotations?: Record<string, string>;
  init?: { image: string; imageID: string; pullPolicy?: string };
  extra?: { name: string; image: string; imageID: string; pullPolicy?: string };
}

function pod(o: PodOpts = {}): ObservedPod {
  const name = o.name ?? 'web-1';
  const owner = o.owner === undefined ? { kind: 'ReplicaSet', name: 'web-abc' } : o.owner;
  const containers = [
    {
      name: 'app',
      image: o.image ?? 'registry.example.com/team/web:1.0',
      imagePullPolicy: 'pullPolicy' in o ? o.pullPolicy : 'Always',
    },
  ];
  const statuses = [
    'imageID' in o && o.imageID === undefined
      ? { name: 'app' }
      : { name: 'app', imageID: o.imageID ?? `registry.example.com/team/web@${OLD}` },
  ];
  if (o.extra) {
    containers.push({
      name: o.extra.name,
      image: o.extra.image,
      imagePullPolicy: o.extra.pullPolicy ?? 'Always',
    });
    statuses.push({ name: o.extra.name, imageID: o.extra.imageID });
  }
  return {
    metadata: {
      name,
      namespace: 'shop',
      uid: `uid-${name}`,
      ...(o.terminating ? { deletionTimestamp: '2026-11-21T00:00:00Z' } : {}),
      ...(o.annotations ? { annotations: o.annotations } : {}),
      ...(owner
        ? {
            ownerReferences: [
              { kind: owner.kind, name: owner.name, uid: `uid-${owner.name}`, controller: true },
            ],
          }
        : {}),
    },
    spec: {
      nodeName: 'node-a',
      containers,
      ...(o.init
        ? {
            initContainers: [
              { name: 'migrate', image: o.init.image, imagePullPolicy: o.init.pullPolicy ?? 'Always' },
            ],
          }
        : {}),
    },
    status: {
      phase: o.phase ?? 'Running',
      conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }],
      // Statuses in another order than the spec: matching must be by name.
      containerStatuses: statuses.reverse(),
      ...(o.init ? { initContainerStatuses: [{ name: 'migrate', imageID: o.init.imageID }] } : {}),
    },
  };
}

const ctx: PlanContext = { optIn: false, now: new Date('2026-11-21T10:00:00Z') };

function tagsFor(p: ObservedPod, state: TagState, c = ctx): Map<string, TagState> {
  return new Map(
    candidates([p], c).map((cand) => [candidateKey(cand.podUid, cand.container, cand.init), state]),
  );
}

const moved: TagState = { ok: true, digest: NEW, children: [] };
const same: TagState = { ok: true, digest: OLD, children: [] };

interface Case {
  name: string;
  pod: ObservedPod;
  tag?: TagState;
  ctx?: PlanContext;
  verdict: string;
  reason: string;
  container?: { verdict: string; reason: string };
}

const cases: Case[] = [
  {
    name: 'when the tag moved then the pod is stale',
    pod: pod(),
    tag: moved,
    verdict: 'stale',
    reason: 'digest-changed',
    container: { verdict: 'stale', reason: 'digest-changed' },
  },
  {
    name: 'when the tag still points to the running digest then the pod is current',
    pod: pod(),
    tag: same,
    verdict: 'current',
    reason: 'up-to-date',
    container: { verdict: 'current', reason: 'up-to-date' },
  },
  {
    name: 'when the running digest is an index child then the pod is kept as current',
    pod: pod({ imageID: `registry.example.com/team/web@${CHILD}` }),
    tag: { ok: true, digest: NEW, children: [CHILD, OLD] },
    verdict: 'current',
    reason: 'up-to-date',
    container: { verdict: 'current', reason: 'index-child' },
  },
  {
    name: 'when the image is pinned by digest then the container is skipped',
    pod: pod({ image: `registry.example.com/team/web@${OLD}` }),
    verdict: 'skipped',
    reason: 'digest-pinned',
    container: { verdict: 'skipped', reason: 'digest-pinned' },
  },
  {
    name: 'when the image has a tag and a digest then it is pinned',
    pod: pod({ image: `registry.example.com/team/web:1.0@${OLD}` }),
    verdict: 'skipped',
    reason: 'digest-pinned',
  },
  {
    name: 'when imageID is a docker config id then the pod is never compared',
    pod: pod({ imageID: `docker://${CONFIG}` }),
    tag: moved,
    verdict: 'skipped',
    reason: 'no-repo-digest',
  },
  {
    name: 'when imageID is a bare config digest then it is unknown',
    pod: pod({ imageID: CONFIG }),
    tag: moved,
    verdict: 'skipped',
    reason: 'no-repo-digest',
  },
  {
    name: 'when imageID is docker-pullable then its digest is compared',
    pod: pod({ imageID: `docker-pullable://registry.example.com/team/web@${OLD}` }),
    tag: moved,
    verdict: 'stale',
    reason: 'digest-changed',
  },
  {
    name: 'when the imageID repository differs from the spec image then only the digest counts',
    pod: pod({ imageID: `mirror.example.com/other/name@${OLD}` }),
    tag: same,
    verdict: 'current',
    reason: 'up-to-date',
  },
  {
    name: 'when the container has no imageID yet then it is skipped',
    pod: pod({ imageID: undefined }),
    verdict: 'skipped',
    reason: 'no-image-id',
  },
  {
    name: 'when the pull policy is IfNotPresent then a restart would reuse the cache and the pod is skipped',
    pod: pod({ pullPolicy: 'IfNotPresent' }),
    tag: moved,
    verdict: 'skipped',
    reason: 'pull-policy-cache',
  },
  {
    name: 'when the pull policy is Never then the pod is skipped',
    pod: pod({ pullPolicy: 'Never' }),
    tag: moved,
    verdict: 'skipped',
    reason: 'pull-policy-cache',
  },
  {
    name: 'when the policy is unset on a versioned tag then the default IfNotPresent applies',
    pod: pod({ pullPolicy: undefined }),
    tag: moved,
    verdict: 'skipped',
    reason: 'pull-policy-cache',
  },
  {
    name: 'when the policy is unset on :latest then the default Always applies',
    pod: pod({ pullPolicy: undefined, image: 'registry.example.com/team/web:latest' }),
    tag: moved,
    verdict: 'stale',
    reason: 'digest-changed',
  },
  {
    name: 'when the policy is unset and there is no tag then the default Always applies',
    pod: pod({ pullPolicy: undefined, image: 'registry.example.com/team/web' }),
    tag: moved,
    verdict: 'stale',
    reason: 'digest-changed',
  },
  {
    name: 'when the pod is a bare pod then it is never touched',
    pod: pod({ owner: null }),
    tag: moved,
    verdict: 'skipped',
    reason: 'bare-pod',
  },
  {
    name: 'when the pod belongs to a Job then it is skipped',
    pod: pod({ owner: { kind: 'Job', name: 'migrate' } }),
    tag: moved,
    verdict: 'skipped',
    reason: 'job-pod',
  },
  {
    name: 'when the controller kind is unknown then the pod is skipped',
    pod: pod({ owner: { kind: 'Rollout', name: 'r' } }),
    tag: moved,
    verdict: 'skipped',
    reason: 'unsupported-owner',
  },
  {
    name: 'when a StatefulSet owns the pod then it may restart',
    pod: pod({ owner: { kind: 'StatefulSet', name: 'db' } }),
    tag: moved,
    verdict: 'stale',
    reason: 'digest-changed',
  },
  {
    name: 'when a DaemonSet owns the pod then it may restart',
    pod: pod({ owner: { kind: 'DaemonSet', name: 'agent' } }),
    tag: moved,
    verdict: 'stale',
    reason: 'digest-changed',
  },
  {
    name: 'when the pod is Pending then it is skipped',
    pod: pod({ phase: 'Pending' }),
    tag: moved,
    verdict: 'skipped',
    reason: 'pending',
  },
  {
    name: 'when the pod is terminating then it is skipped',
    pod: pod({ terminating: true }),
    tag: moved,
    verdict: 'skipped',
    reason: 'terminating',
  },
  {
    name: 'when the pod is not Ready then it is skipped',
    pod: pod({ ready: false }),
    tag: moved,
    verdict: 'skipped',
    reason: 'not-ready',
  },
  {
    name: 'when the pod is a mirror pod then it is skipped',
    pod: pod({
      annotations: { 'kubernetes.io/config.mirror': 'x' },
      owner: { kind: 'Node', name: 'node-a' },
    }),
    tag: moved,
    verdict: 'skipped',
    reason: 'mirror-pod',
  },
  {
    name: "when the pod is the updater's own then it is skipped",
    pod: pod({ name: 'updater-1' }),
    ctx: { ...ctx, self: { namespace: 'shop', name: 'updater-1' } },
    tag: moved,
    verdict: 'skipped',
    reason: 'self',
  },
  {
    name: 'when the pod opts out then it is skipped even without opt-in mode',
    pod: pod({ annotations: { 'k8s-auto-updater.io/enabled': 'false' } }),
    tag: moved,
    verdict: 'skipped',
    reason: 'opted-out',
  },
  {
    name: 'when opt-in mode is on and nothing opts in then the pod is skipped',
    pod: pod(),
    ctx: { ...ctx, optIn: true },
    tag: moved,
    verdict: 'skipped',
    reason: 'not-opted-in',
  },
  {
    name: 'when opt-in mode is on and the pod opts in then it is judged',
    pod: pod({ annotations: { 'k8s-auto-updater.io/enabled': 'true' } }),
    ctx: { ...ctx, optIn: true },
    tag: moved,
    verdict: 'stale',
    reason: 'digest-changed',
  },
  {
    name: 'when opt-in mode is on and the workload opts in then the pod is judged',
    pod: pod(),
    ctx: {
      ...ctx,
      optIn: true,
      workloads: new Map([
        [
          'uid-web-1',
          {
            kind: 'ReplicaSet',
            name: 'web-abc',
            namespace: 'shop',
            uid: 'uid-web-abc',
            top: { kind: 'Deployment', name: 'web', uid: 'uid-web' },
          },
        ],
      ]),
      workloadAnnotations: new Map([['uid-web', { 'k8s-auto-updater.io/enabled': 'true' }]]),
    },
    tag: moved,
    verdict: 'stale',
    reason: 'digest-changed',
  },
  {
    name: 'when the workload opts out then the opt-out wins over the pod opting in',
    pod: pod({ annotations: { 'k8s-auto-updater.io/enabled': 'true' } }),
    ctx: {
      ...ctx,
      optIn: true,
      workloadAnnotations: new Map([['uid-web-abc', { 'k8s-auto-updater.io/enabled': 'false' }]]),
    },
    tag: moved,
    verdict: 'skipped',
    reason: 'opted-out',
  },
  {
    name: 'when the workload could not be read then its pods are kept (opt-out unknown)',
    pod: pod(),
    ctx: { ...ctx, workloadAnnotations: new Map([['uid-web-abc', null]]) },
    tag: moved,
    verdict: 'skipped',
    reason: 'owner-unreadable',
  },
  {
    name: 'when the registry was unreachable then the pod is kept',
    pod: pod(),
    tag: { ok: false, reason: 'registry-unreachable', message: 'connection refused' },
    verdict: 'skipped',
    reason: 'registry-unreachable',
  },
  {
    name: 'when the registry refused the credentials then the pod is kept',
    pod: pod(),
    tag: { ok: false, reason: 'unauthorized', message: '401' },
    verdict: 'skipped',
    reason: 'unauthorized',
  },
  {
    name: 'when the tag does not exist then the pod is kept',
    pod: pod(),
    tag: { ok: false, reason: 'not-found', message: '404' },
    verdict: 'skipped',
    reason: 'not-found',
  },
  {
    name: 'when the registry rate-limited us then the pod is kept',
    pod: pod(),
    tag: { ok: false, reason: 'rate-limited', message: '429' },
    verdict: 'skipped',
    reason: 'rate-limited',
  },
  {
    name: 'when a tag was never resolved then unknown means keep',
    pod: pod(),
    verdict: 'skipped',
    reason: 'registry-unreachable',
  },
  {
    name: 'when the spec image is invalid then the container is skipped with the parse error',
    pod: pod({ image: 'Registry.example.com/UPPER/Web:1' }),
    verdict: 'skipped',
    reason: 'invalid-image',
  },
  {
    name: 'when only the init container is stale then the pod is stale',
    pod: pod({
      init: {
        image: 'registry.example.com/team/migrate:1',
        imageID: `registry.example.com/team/migrate@${OLD}`,
      },
    }),
    tag: moved,
    verdict: 'stale',
    reason: 'digest-changed',
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const cx = c.ctx ?? ctx;
    const plan = buildPlan([c.pod], cx, c.tag ? tagsFor(c.pod, c.tag, cx) : new Map());
    const p = plan.pods[0]!;
    t.equal(p.verdict, c.verdict, 'pod verdict');
    t.equal(p.reason, c.reason, 'pod reason');
    t.ok(p.message.length > 0, 'pod has a message');
    if (c.container) {
      const app = p.containers.find((x) => x.name === 'app')!;
      t.equal(app.verdict, c.container.verdict, 'container verdict');
      t.equal(app.reason, c.container.reason, 'container reason');
    }
    t.equal(plan.summary[p.verdict as 'current'], 1, 'summary counts the pod');
  });
}

t.test(
  'when one container is stale and another container’s registry failed then the pod is kept',
  async (t) => {
    const p = pod({
      extra: {
        name: 'sidecar',
        image: 'other.example.com/proxy:2',
        imageID: `other.example.com/proxy@${OLD}`,
      },
    });
    const tags = new Map<string, TagState>([
      [candidateKey('uid-web-1', 'app', false), moved],
      [
        candidateKey('uid-web-1', 'sidecar', false),
        { ok: false, reason: 'registry-unreachable', message: 'timeout' },
      ],
    ]);
    const plan = buildPlan([p], ctx, tags);
    t.equal(plan.pods[0]!.verdict, 'skipped');
    t.equal(plan.pods[0]!.reason, 'registry-unreachable');
    t.match(plan.pods[0]!.message, /stale, but kept: container sidecar/);
  },
);

t.test(
  'when a pod is skipped at pod level then none of its containers is sent to the registry',
  async (t) => {
    const pods = [
      pod({ owner: null, name: 'bare' }),
      pod({ phase: 'Pending', name: 'pending' }),
      pod({ name: 'ok' }),
      pod({ name: 'pinned', image: `r.example.com/a@${OLD}` }),
    ];
    const list = candidates(pods, ctx);
    t.same(
      list.map((c) => c.podUid),
      ['uid-ok'],
    );
    t.same(list[0]!.running, { digest: OLD });
    t.equal(list[0]!.ref.repository, 'team/web');
  },
);

t.test('when in docker mode a docker:// image ID is compared with the pulled image IDs', async (t) => {
  const p = pod({ imageID: `docker://${CONFIG}` });
  const dctx = { ...ctx, compareConfigIds: true };
  const cur = buildPlan(
    [p],
    dctx,
    tagsFor(p, { ok: true, digest: NEW, children: [], configIds: [CONFIG] }, dctx),
  );
  t.equal(cur.pods[0]!.verdict, 'current');
  const st = buildPlan(
    [p],
    dctx,
    tagsFor(p, { ok: true, digest: NEW, children: [], configIds: [CHILD] }, dctx),
  );
  t.equal(st.pods[0]!.verdict, 'stale');
  t.ok(
    st.pods[0]!.containers[0]!.acceptedDigests?.includes(CHILD),
    'the new image ID is accepted for the replacement',
  );
  const bare = pod({ imageID: CONFIG });
  t.equal(candidates([bare], dctx).length, 0, 'a bare sha256 imageID stays unknown even in docker mode');
  t.equal(buildPlan([bare], dctx, new Map()).pods[0]!.reason, 'no-repo-digest');
});

t.test('when pods come in any order then the plan is sorted and deterministic', async (t) => {
  const a = pod({ name: 'b-pod' });
  const b = pod({ name: 'a-pod' });
  const p1 = buildPlan([a, b], ctx, new Map());
  const p2 = buildPlan([b, a], ctx, new Map());
  t.same(p1, p2);
  t.same(
    p1.pods.map((p) => p.name),
    ['a-pod', 'b-pod'],
  );
});

t.test(
  'when a stale container is planned then it carries running, current and accepted digests',
  async (t) => {
    const p = pod();
    const plan = buildPlan([p], ctx, tagsFor(p, { ok: true, digest: NEW, children: [CHILD] }));
    const c = plan.pods[0]!.containers[0]!;
    t.equal(c.runningDigest, OLD);
    t.equal(c.currentDigest, NEW);
    t.same(c.acceptedDigests, [NEW, CHILD]);
    t.same(plan.pods[0]!.workload, {
      kind: 'ReplicaSet',
      name: 'web-abc',
      namespace: 'shop',
      uid: 'uid-web-abc',
    });
  },
);
