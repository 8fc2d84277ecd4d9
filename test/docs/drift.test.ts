// The option table is the one source: the committed configuration doc, the chart's values.yaml and
// values.schema.json `config` block, and the env names the chart renders must all agree with it.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parse } from 'yaml';
import { envName, OPTIONS, type OptionSpec } from '../../lib/config/options.ts';
import { CONFIGURATION_DOC, renderConfigurationDoc } from '../../scripts/gen-docs.ts';
import { CHART_DIR, envOf, helmRunner } from '../chart/helm.ts';
import { requireBin } from '../harness/require-bin.ts';

const CHART_OPTIONS = OPTIONS.filter((o) => o.chart);
// biome-ignore lint/suspicious/noExplicitAny: JSON schema nodes are read field by field.
type Schema = Record<string, any>;
const schema = JSON.parse(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8')) as Schema;
const values = parse(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as {
  config: Record<string, unknown>;
};

function resolve(node: Schema): Schema {
  const ref = node.$ref as string | undefined;
  if (!ref) return node;
  const name = ref.replace('#/definitions/', '');
  return resolve(schema.definitions[name]);
}

const configSchema = schema.properties.config as Schema;

t.test('when the doc is regenerated then it equals the committed docs/configuration.md', async (t) => {
  t.equal(readFileSync(CONFIGURATION_DOC, 'utf8'), renderConfigurationDoc(), 'run npm run docs and commit');
});

t.test(
  'when an option is exposed by the chart then values.yaml has config.<key> defaulting to null',
  async (t) => {
    for (const spec of CHART_OPTIONS) {
      t.ok(Object.hasOwn(values.config, spec.key), `values.yaml has config.${spec.key}`);
      t.equal(
        values.config[spec.key],
        null,
        `config.${spec.key} defaults to null (the program default applies)`,
      );
    }
    t.same(Object.keys(values.config).sort(), CHART_OPTIONS.map((o) => o.key).sort(), 'and nothing else');
  },
);

t.test('when the schema describes config then its keys are exactly the chart options', async (t) => {
  t.equal(configSchema.additionalProperties, false, 'unknown config keys are rejected');
  t.same(Object.keys(configSchema.properties).sort(), CHART_OPTIONS.map((o) => o.key).sort());
});

function checkSchemaType(t: Test, spec: OptionSpec, node: Schema): void {
  const types = ([] as string[]).concat(node.type);
  t.ok(types.includes('null'), `config.${spec.key} accepts null (unset)`);
  switch (spec.type) {
    case 'boolean':
      t.same(types.sort(), ['boolean', 'null'], `config.${spec.key} is a boolean`);
      break;
    case 'integer':
      t.same(types.sort(), ['integer', 'null'], `config.${spec.key} is an integer`);
      t.equal(node.minimum, spec.min, `config.${spec.key} minimum`);
      t.equal(node.maximum, spec.max, `config.${spec.key} maximum`);
      break;
    case 'string[]':
      t.same(types.sort(), ['array', 'null'], `config.${spec.key} is a list`);
      t.equal(node.items?.type, 'string', `config.${spec.key} holds strings`);
      break;
    case 'enum':
      t.same(types.sort(), ['null', 'string'], `config.${spec.key} is a string`);
      t.same(node.enum, [...(spec.choices ?? []), null], `config.${spec.key} choices`);
      break;
    case 'duration': {
      t.same(types.sort(), ['null', 'string'], `config.${spec.key} is a duration string`);
      const re = new RegExp(node.pattern);
      for (const ok of ['90s', '5m', '1h30m', '250ms', '30', '1.5s']) t.match(ok, re, `${ok} is a duration`);
      for (const bad of ['5x', '', 'm', '-1s', '5 m']) t.notMatch(bad, re, `${bad} is not a duration`);
      break;
    }
    case 'string':
      t.same(types.sort(), ['null', 'string'], `config.${spec.key} is a string`);
      t.equal(node.minLength, 1, `config.${spec.key} may not be empty`);
      break;
  }
}

t.test('when an option has a type, choices or bounds then the schema has the same', async (t) => {
  for (const spec of CHART_OPTIONS) {
    const node = configSchema.properties[spec.key] as Schema | undefined;
    if (!node) {
      t.fail(`schema lacks config.${spec.key}`);
      continue;
    }
    checkSchemaType(t, spec, resolve(node));
  }
});

// A valid value of each option, to make the chart render every env var at once.
function sample(spec: OptionSpec): unknown {
  switch (spec.type) {
    case 'boolean':
      return true;
    case 'integer':
      return spec.min ?? 1;
    case 'string[]':
      return ['updater', 'other'];
    case 'enum':
      return spec.choices?.[spec.choices.length - 1];
    case 'duration':
      return '90s';
    case 'string':
      return spec.key === 'dockerHost' ? 'tcp://127.0.0.1:2376' : `sample-${spec.key}`;
  }
}

t.test(
  'when every chart option is set then helm renders exactly their env twins with the values',
  async (t) => {
    const helm = requireBin(t, 'helm');
    if (!helm) return;
    const h = helmRunner(helm);
    t.teardown(() => h.cleanup());
    const config = Object.fromEntries(CHART_OPTIONS.map((o) => [o.key, sample(o)]));
    const env = envOf(h.template({ schedule: '@daily', rbac: { scope: 'cluster' }, config }));
    const rendered = Object.keys(env).filter((k) => k.startsWith('AUTO_UPDATER_'));
    t.same(rendered.sort(), CHART_OPTIONS.map((o) => envName(o.flag)).sort());
    for (const spec of CHART_OPTIONS) {
      const v = config[spec.key];
      const want = Array.isArray(v) ? v.join(',') : String(v);
      t.equal(env[envName(spec.flag)], want, `${envName(spec.flag)} carries config.${spec.key}`);
    }
  },
);

t.test('when no option is set then the chart renders no option env var', async (t) => {
  const helm = requireBin(t, 'helm');
  if (!helm) return;
  const h = helmRunner(helm);
  t.teardown(() => h.cleanup());
  const env = envOf(h.template({ schedule: '@daily' }));
  t.same(Object.keys(env).sort(), ['POD_NAME', 'POD_NAMESPACE']);
});
