// Manifest media types and the Accept header the registry client sends: index types first, never schema1.

export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

/**
 * All four, index types first: without the index types a registry answers with the linux/amd64 platform digest
 * (or 404 for an OCI index); without the Docker v2 type distribution converts to schema1 (another digest).
 */
export const MANIFEST_ACCEPT = [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST].join(', ');

const SCHEMA1 = new Set([
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
]);

/** The bare media type of a Content-Type value (parameters dropped, lower-cased). */
export function mediaTypeOf(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** True for the multi-arch types whose body lists child manifests. */
export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === OCI_INDEX || mediaType === DOCKER_LIST;
}

/** True for the deprecated schema1 types, whose digests never match what a modern runtime pulled. */
export function isSchema1MediaType(mediaType: string): boolean {
  return SCHEMA1.has(mediaType);
}
