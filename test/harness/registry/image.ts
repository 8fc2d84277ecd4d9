// Builds tiny deterministic images in memory: the same (format, seed, platform) always yields the same bytes, hence
// the same digests, and another seed yields new ones.

import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { MEDIA_TYPES } from './media-types.ts';
import type { Platform } from './types.ts';

export interface Blob {
  digest: string;
  size: number;
  bytes: Buffer;
}

export interface BuiltManifest {
  mediaType: string;
  bytes: Buffer;
  digest: string;
  config: Blob;
  layer: Blob;
  platform: Platform;
}

/** The sha256 digest string of some bytes. */
export function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** 'linux/arm64/v8' → { os, architecture, variant }; throws on a malformed string. */
export function parsePlatform(s: string): Platform {
  const [os, architecture, variant, extra] = s.split('/');
  if (!os || !architecture || extra !== undefined)
    throw new Error(`bad platform '${s}' (want os/arch[/variant])`);
  return variant ? { os, architecture, variant } : { os, architecture };
}

/** A single-platform manifest with its config and layer blobs, in the OCI or Docker schema2 media types. */
export function buildManifest(kind: 'oci' | 'docker', seed: string, platform: Platform): BuiltManifest {
  const types =
    kind === 'oci'
      ? { manifest: MEDIA_TYPES.ociManifest, config: MEDIA_TYPES.ociConfig, layer: MEDIA_TYPES.ociLayer }
      : {
          manifest: MEDIA_TYPES.dockerManifest,
          config: MEDIA_TYPES.dockerConfig,
          layer: MEDIA_TYPES.dockerLayer,
        };
  const platformName = [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
  const tar = tarOneFile('seed.txt', Buffer.from(`seed=${seed}\nplatform=${platformName}\n`));
  // level and strategy fixed; node's gzip header carries mtime 0, so the bytes depend on the content alone.
  const layer = blob(gzipSync(tar, { level: 9 }));
  const config = blob(
    Buffer.from(
      JSON.stringify({
        architecture: platform.architecture,
        os: platform.os,
        ...(platform.variant ? { variant: platform.variant } : {}),
        created: '1970-01-01T00:00:00Z',
        config: {
          Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
          Cmd: ['/seed.txt'],
        },
        rootfs: { type: 'layers', diff_ids: [sha256(tar)] },
        history: [{ created: '1970-01-01T00:00:00Z', created_by: `registry-harness seed=${seed}` }],
      }),
    ),
  );
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: types.manifest,
      config: { mediaType: types.config, digest: config.digest, size: config.size },
      layers: [{ mediaType: types.layer, digest: layer.digest, size: layer.size }],
    }),
  );
  return { mediaType: types.manifest, bytes, digest: sha256(bytes), config, layer, platform };
}

/** An OCI index or Docker manifest list over already built manifests. */
export function buildIndex(
  kind: 'oci' | 'docker',
  children: BuiltManifest[],
): { mediaType: string; bytes: Buffer; digest: string } {
  const mediaType = kind === 'oci' ? MEDIA_TYPES.ociIndex : MEDIA_TYPES.dockerList;
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      manifests: children.map((c) => ({
        mediaType: c.mediaType,
        digest: c.digest,
        size: c.bytes.length,
        platform: c.platform,
      })),
    }),
  );
  return { mediaType, bytes, digest: sha256(bytes) };
}

function blob(bytes: Buffer): Blob {
  return { digest: sha256(bytes), size: bytes.length, bytes };
}

// A ustar archive with one regular file, every header field fixed (mtime 0, root owner, mode 0644).
function tarOneFile(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  const put = (offset: number, length: number, value: string) => header.write(value, offset, length, 'ascii');
  const octal = (n: number, width: number) => `${n.toString(8).padStart(width - 1, '0')}\0`;
  put(0, 100, name);
  put(100, 8, octal(0o644, 8));
  put(108, 8, octal(0, 8));
  put(116, 8, octal(0, 8));
  put(124, 12, octal(content.length, 12));
  put(136, 12, octal(0, 12));
  put(148, 8, '        ');
  put(156, 1, '0');
  put(257, 6, 'ustar\0');
  put(263, 2, '00');
  let sum = 0;
  for (const b of header) sum += b;
  put(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  const padding = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, padding, Buffer.alloc(1024)]);
}
