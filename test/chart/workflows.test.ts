// The GitHub workflows cannot run here, so their invariants are checked as data: no default permissions,
// actions pinned by commit SHA with a version comment, and every script they call exists in the repository.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse } from 'yaml';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = join(root, '.github', 'workflows');
const files = readdirSync(dir).filter((f) => f.endsWith('.yml'));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
};
// biome-ignore lint/suspicious/noExplicitAny: workflow YAML is read field by field.
type Workflow = Record<string, any>;
const workflows = files.map((f) => {
  const text = readFileSync(join(dir, f), 'utf8');
  return { file: f, text, doc: parse(text) as Workflow };
});

t.test('when the workflows are listed then ci, image and release exist', async (t) => {
  t.same(files.sort(), ['ci.yml', 'image.yml', 'release.yml']);
});

t.test(
  'when a workflow declares permissions then the default is none and each job asks for its own',
  async (t) => {
    for (const { file, doc } of workflows) {
      t.same(doc.permissions, {}, `${file}: permissions: {} at the top`);
      for (const [name, job] of Object.entries(doc.jobs as Record<string, Workflow>)) {
        t.type(job.permissions, 'object', `${file} ${name}: explicit job permissions`);
        for (const [scope, level] of Object.entries(job.permissions ?? {})) {
          t.ok(['read', 'write', 'none'].includes(level as string), `${file} ${name}: ${scope}: ${level}`);
        }
      }
    }
    const release = workflows.find((w) => w.file === 'release.yml')!.doc;
    t.equal(release.jobs.image.permissions.packages, 'write', 'only publishing jobs write packages');
    const ci = workflows.find((w) => w.file === 'ci.yml')!.doc;
    for (const job of Object.values(ci.jobs as Record<string, Workflow>))
      t.same(job.permissions, { contents: 'read' });
  },
);

t.test(
  'when a step uses an action then it is pinned to a full commit SHA with a version comment',
  async (t) => {
    for (const { file, text } of workflows) {
      const uses = text.split('\n').filter((l) => /^\s*(-\s+)?uses:/.test(l));
      t.ok(uses.length > 0, `${file} uses actions`);
      for (const line of uses) {
        t.match(line, /uses: [\w.-]+\/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$/, `${file}: ${line.trim()}`);
      }
    }
  },
);

t.test('when a workflow runs repository scripts then they exist', async (t) => {
  for (const { file, text } of workflows) {
    for (const m of text.matchAll(/npm run (\w[\w:-]*)/g))
      t.ok(pkg.scripts[m[1]!], `${file}: npm run ${m[1]}`);
    for (const m of text.matchAll(/(?:node|bash) ((?:scripts|bin)\/[\w./-]+)/g)) {
      t.ok(existsSync(join(root, m[1]!)), `${file}: ${m[1]} exists`);
    }
  }
});

t.test(
  'when CI runs then tests cover Node 22 and 24 and an e2e job installs the chart on kind',
  async (t) => {
    const ci = workflows.find((w) => w.file === 'ci.yml')!;
    t.same(ci.doc.jobs.test.strategy.matrix.node, [22, 24]);
    t.match(ci.text, 'helm lint --strict chart');
    const e2e = JSON.stringify(ci.doc.jobs.e2e);
    t.match(e2e, 'helm/kind-action@');
    t.match(e2e, 'kind load docker-image');
    t.match(e2e, 'helm install k8s-auto-updater chart');
    t.match(e2e, 'kubectl create job --from=cronjob/k8s-auto-updater');
    t.match(e2e, 'kubectl wait --for=condition=complete');
  },
);

t.test(
  'when a release is tagged then the image is pushed with provenance and the chart as OCI',
  async (t) => {
    const release = workflows.find((w) => w.file === 'release.yml')!;
    const build = (release.doc.jobs.image.steps as Workflow[]).find((s) =>
      String(s.uses).startsWith('docker/build-push-action@'),
    );
    t.equal(build?.with.push, true);
    t.match(String(build?.with.provenance), /mode=max/);
    t.match(release.text, /helm push "dist\/k8s-auto-updater-\$\{version\}\.tgz" "oci:\/\/ghcr\.io\//);
    const image = workflows.find((w) => w.file === 'image.yml')!;
    t.match(image.text, 'aquasecurity/trivy-action@');
  },
);

t.test('when dependabot is configured then npm, actions and the base image are updated', async (t) => {
  const cfg = parse(readFileSync(join(root, '.github', 'dependabot.yml'), 'utf8')) as Workflow;
  t.same((cfg.updates as Workflow[]).map((u) => u['package-ecosystem']).sort(), [
    'docker',
    'github-actions',
    'npm',
  ]);
});
