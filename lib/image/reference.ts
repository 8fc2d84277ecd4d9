// The Docker image reference grammar (distribution/reference, as the kubelet and containerd normalise it): turns
// what a pod spec says (`nginx`, `localhost:5000/a/b:1@sha256:…`) into registry, repository, tag and digest.
// https://github.com/distribution/reference/blob/main/reference.go

import { ConfigError } from '../shared/errors.ts';
import { isDigest } from './digest.ts';

/** The canonical name of Docker Hub, as the kubelet writes it in `imageID`. */
export const DOCKER_HUB = 'docker.io';
const LEGACY_HUB = 'index.docker.io';
const HUB_API_HOST = 'registry-1.docker.io';
const OFFICIAL_PREFIX = 'library/';
/** distribution's NameTotalLengthMax, checked on the repository path (`library/nginx`), not on the registry host. */
export const NAME_MAX_LENGTH = 255;
/** Tags are `[\w][\w.-]{0,127}`. */
export const TAG_MAX_LENGTH = 128;

export interface ImageReference {
  /** The string as written in the pod spec. */
  original: string;
  /** Registry host[:port], lower-cased; 'docker.io' for Docker Hub (also when written `index.docker.io`). */
  registry: string;
  /** Repository path within the registry: 'library/nginx' for Hub official images. */
  repository: string;
  tag?: string;
  digest?: string;
  /** Short form as `docker` prints it: 'nginx:1.2', 'myorg/app', 'ghcr.io/o/a:1'. */
  familiar: string;
  /** Fully qualified: 'docker.io/library/nginx:1.2'. No implicit ':latest' (see effectiveTag). */
  canonical: string;
}

/** A reference that does not follow the grammar: a configuration problem of the workload, never retried. */
export class InvalidReferenceError extends ConfigError {
  readonly reference: string;
  constructor(reference: string, reason: string) {
    super(`invalid image reference ${JSON.stringify(reference)}: ${reason}`);
    this.reference = reference;
  }
}

// Path components: lower-case alphanumerics joined by one '.', one or two '_', or any run of '-'.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const IPV6_HOST = /^\[[a-fA-F0-9:]+\]$/;
const PORT = /^[0-9]+$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const IDENTIFIER = /^[a-f0-9]{64}$/;

/** Parses a pod-spec image string the way the kubelet does. Throws InvalidReferenceError with the reason. */
export function parseImageReference(s: string): ImageReference {
  if (typeof s !== 'string' || s.length === 0) throw new InvalidReferenceError(String(s), 'empty reference');
  if (s.trim() !== s) throw new InvalidReferenceError(s, 'leading or trailing white space');
  if (IDENTIFIER.test(s)) {
    throw new InvalidReferenceError(
      s,
      'a 64-character hexadecimal string is an image ID, not a repository name',
    );
  }

  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) {
      throw new InvalidReferenceError(
        s,
        `digest ${JSON.stringify(digest)} is not sha256:<64 hex> (or sha384/sha512)`,
      );
    }
  }

  // A ':' after the last '/' starts the tag; one before it belongs to the registry's port.
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (tag.length > TAG_MAX_LENGTH) {
      throw new InvalidReferenceError(s, `tag is longer than ${TAG_MAX_LENGTH} characters`);
    }
    if (!TAG.test(tag)) {
      throw new InvalidReferenceError(s, `tag ${JSON.stringify(tag)} must match [A-Za-z0-9_][A-Za-z0-9_.-]*`);
    }
  }

  const { registry, path } = splitRegistry(s, rest);
  if (path !== path.toLowerCase()) {
    throw new InvalidReferenceError(s, `repository name ${JSON.stringify(path)} must be lower-case`);
  }
  if (path.length === 0) throw new InvalidReferenceError(s, 'missing repository name');
  for (const component of path.split('/')) {
    if (!PATH_COMPONENT.test(component)) {
      throw new InvalidReferenceError(
        s,
        `repository path component ${JSON.stringify(component)} must be lower-case letters and digits separated by '.', '_', '__' or '-'`,
      );
    }
  }
  const repository = registry === DOCKER_HUB && !path.includes('/') ? OFFICIAL_PREFIX + path : path;
  // distribution/reference >= 0.6 and the kubelet limit the path (library/ included for Hub), not registry + path.
  if (repository.length > NAME_MAX_LENGTH) {
    throw new InvalidReferenceError(
      s,
      `repository path is ${repository.length} characters, longer than ${NAME_MAX_LENGTH} (the registry host does not count)`,
    );
  }
  const name = `${registry}/${repository}`;

  const suffix = (tag === undefined ? '' : `:${tag}`) + (digest === undefined ? '' : `@${digest}`);
  const ref: ImageReference = {
    original: s,
    registry,
    repository,
    familiar: familiarName(registry, repository) + suffix,
    canonical: name + suffix,
  };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** Like parseImageReference but returns undefined instead of throwing: for callers that report invalid images. */
export function tryParseImageReference(s: string): ImageReference | undefined {
  try {
    return parseImageReference(s);
  } catch {
    return undefined;
  }
}

// The first component names a registry when it looks like a host (has '.' or ':', is 'localhost', or has an
// upper-case letter, which a repository path cannot); otherwise the image is on Docker Hub.
function splitRegistry(original: string, name: string): { registry: string; path: string } {
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  const isHost =
    slash >= 0 &&
    (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase());
  if (!isHost) return { registry: DOCKER_HUB, path: name };
  validateHost(original, first);
  // Host names are case-insensitive: lower-case so that repoKey and credential matching compare like with like;
  // except a host recognised only by its upper case, which lower-cased would read back as a Hub namespace.
  const byCaseOnly = !first.includes('.') && !first.includes(':') && first !== 'localhost';
  let registry = byCaseOnly ? first : first.toLowerCase();
  if (registry === LEGACY_HUB) registry = DOCKER_HUB;
  return { registry, path: name.slice(slash + 1) };
}

function validateHost(original: string, hostPort: string): void {
  let host = hostPort;
  let port: string | undefined;
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']');
    host = close < 0 ? hostPort : hostPort.slice(0, close + 1);
    const after = hostPort.slice(host.length);
    if (after !== '') {
      if (!after.startsWith(':')) throw new InvalidReferenceError(original, `invalid registry ${hostPort}`);
      port = after.slice(1);
    }
    if (!IPV6_HOST.test(host))
      throw new InvalidReferenceError(original, `invalid IPv6 registry host ${host}`);
  } else {
    const c = hostPort.indexOf(':');
    if (c >= 0) {
      host = hostPort.slice(0, c);
      port = hostPort.slice(c + 1);
    }
    if (host === '' || !host.split('.').every((p) => DOMAIN_COMPONENT.test(p))) {
      throw new InvalidReferenceError(original, `invalid registry host ${JSON.stringify(host)}`);
    }
  }
  if (port !== undefined && (!PORT.test(port) || Number(port) > 65535)) {
    throw new InvalidReferenceError(original, `invalid registry port ${JSON.stringify(port)}`);
  }
}

function familiarName(registry: string, repository: string): string {
  if (registry !== DOCKER_HUB) return `${registry}/${repository}`;
  const short = repository.startsWith(OFFICIAL_PREFIX)
    ? repository.slice(OFFICIAL_PREFIX.length)
    : repository;
  return short.includes('/') ? repository : short;
}

/** The host the registry API lives on: Docker Hub's API is not on docker.io itself. */
export function registryApiHost(registry: string): string {
  return registry === DOCKER_HUB || registry === LEGACY_HUB ? HUB_API_HOST : registry;
}

/** `registry/repository`: the identity to match images by (never a string prefix of the written image). */
export function repoKey(ref: Pick<ImageReference, 'registry' | 'repository'>): string {
  return `${ref.registry}/${ref.repository}`;
}

/** The tag the kubelet pulls: the written tag, or 'latest' when there is none. */
export function effectiveTag(ref: Pick<ImageReference, 'tag'>): string {
  return ref.tag ?? 'latest';
}

/** True for Docker Hub under any of its names. */
export function isDockerHub(registry: string): boolean {
  return registry === DOCKER_HUB || registry === LEGACY_HUB || registry === HUB_API_HOST;
}
