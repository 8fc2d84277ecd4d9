// Pushes deterministic tiny images through the distribution push API, authenticating like a client.
import type { PushedImage, PushOptions, Registry } from './types.ts';

/** Pushes an image and tags it; rejects on any registry error or digest mismatch. */
export async function pushImage(
  _reg: Registry,
  _repo: string,
  _tag: string,
  _opts: PushOptions = {},
): Promise<PushedImage> {
  throw new Error('pushImage: not implemented yet');
}

/** Removes a tag (by deleting the manifest it points to); rejects on a registry error. */
export async function deleteTag(_reg: Registry, _repo: string, _tag: string): Promise<void> {
  throw new Error('deleteTag: not implemented yet');
}
