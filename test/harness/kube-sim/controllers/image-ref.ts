// Image references as the simulated kubelet and container runtimes see them: parsing with Docker's defaults
// (docker.io, library/), normalisation as containerd prints it, and imageID rendering per runtime.
// Independent of lib/image on purpose: the simulator must not share the product's bugs.

export interface ImageRef {
  /** Registry host[:port] as written, with docker.io for Docker Hub. */
  registry: string;
  /** Repository path, with library/ for official Docker Hub images. */
  repository: string;
  tag: string | undefined;
  digest: string | undefined;
}

/** The host the registry's API lives at (Docker Hub's is not docker.io). */
export function apiHost(registry: string): string {
  return registry === 'docker.io' ? 'registry-1.docker.io' : registry;
}

/** Parses an image reference; throws on an empty or malformed one (the kubelet reports InvalidImageName). */
export function parseImage(image: string): ImageRef {
  if (!image || /\s/.test(image) || image !== image.trim())
    throw new Error(`invalid reference format: "${image}"`);
  let rest = image;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!/^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$/.test(digest)) {
      throw new Error(`invalid reference format: bad digest in "${image}"`);
    }
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', lastSlash + 1);
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!/^[\w][\w.-]{0,127}$/.test(tag)) throw new Error(`invalid reference format: bad tag in "${image}"`);
  }
  let registry = 'docker.io';
  let repository = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost') {
      registry = first === 'index.docker.io' ? 'docker.io' : first;
      repository = rest.slice(slash + 1);
    }
  }
  if (registry === 'docker.io' && !repository.includes('/')) repository = `library/${repository}`;
  if (
    !/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(repository)
  ) {
    throw new Error(`invalid reference format: repository name must be lowercase in "${image}"`);
  }
  if (!tag && !digest) tag = 'latest';
  return { registry, repository, tag, digest };
}

/** `registry/repository`, e.g. docker.io/library/nginx. */
export function repoName(r: ImageRef): string {
  return `${r.registry}/${r.repository}`;
}

/** The fully qualified reference containerd prints: docker.io/library/nginx:1.25 (…@sha256 when pinned). */
export function normalized(r: ImageRef): string {
  return `${repoName(r)}${r.tag && !r.digest ? `:${r.tag}` : ''}${r.digest ? `${r.tag ? `:${r.tag}` : ''}@${r.digest}` : ''}`;
}

/** Docker's short form: nginx for docker.io/library/nginx, user/app for docker.io/user/app. */
export function familiarRepo(r: ImageRef): string {
  if (r.registry !== 'docker.io') return repoName(r);
  return r.repository.startsWith('library/') ? r.repository.slice('library/'.length) : r.repository;
}

/** The cache key of a reference on a node: by digest when pinned, else by tag. */
export function cacheKey(r: ImageRef): string {
  return r.digest ? `${repoName(r)}@${r.digest}` : `${repoName(r)}:${r.tag}`;
}

export type RuntimeFormat = 'containerd' | 'crio' | 'docker' | 'docker-no-digest' | 'bare';

export const RUNTIME_FORMATS: readonly RuntimeFormat[] = [
  'containerd',
  'crio',
  'docker',
  'docker-no-digest',
  'bare',
];

/** Whether the runtime reports the image config digest rather than the manifest digest. */
export function needsConfigDigest(rt: RuntimeFormat): boolean {
  return rt === 'docker-no-digest' || rt === 'bare';
}

/** status.containerStatuses[].imageID as the runtime would report it. */
export function formatImageID(
  rt: RuntimeFormat,
  r: ImageRef,
  digest: string,
  configDigest: string | undefined,
): string {
  switch (rt) {
    case 'containerd':
    case 'crio':
      return `${repoName(r)}@${digest}`;
    case 'docker':
      return `docker-pullable://${familiarRepo(r)}@${digest}`;
    case 'docker-no-digest':
      return `docker://${configDigest ?? digest}`;
    case 'bare':
      return configDigest ?? digest;
  }
}

/** status.containerStatuses[].image as the runtime would report it. */
export function formatStatusImage(rt: RuntimeFormat, specImage: string, r: ImageRef): string {
  return rt === 'containerd' || rt === 'crio' ? normalized(r) : specImage;
}

/** The scheme of containerID values per runtime. */
export function containerIdScheme(rt: RuntimeFormat): string {
  return rt === 'containerd' ? 'containerd' : rt === 'crio' ? 'cri-o' : 'docker';
}

/** Node status containerRuntimeVersion per runtime. */
export function runtimeVersion(rt: RuntimeFormat): string {
  return rt === 'containerd' ? 'containerd://1.7.24' : rt === 'crio' ? 'cri-o://1.31.1' : 'docker://27.3.1';
}
