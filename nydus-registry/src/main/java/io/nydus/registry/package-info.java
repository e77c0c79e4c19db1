/**
 * A client of the OCI distribution API for pulling and pushing images.
 *
 * <p>The public entry point is {@link io.nydus.registry.RegistryClient}, built with
 * {@link io.nydus.registry.RegistryClient#builder()}. Values: {@link io.nydus.registry.Digest},
 * {@link io.nydus.registry.ImageReference}, {@link io.nydus.registry.Repository}, and the JSON
 * documents {@link io.nydus.registry.Manifest}, {@link io.nydus.registry.ImageIndex} and
 * {@link io.nydus.registry.Descriptor}, with {@link io.nydus.registry.ManifestContent} for the
 * exact bytes. Failures are {@link io.nydus.registry.RegistryException}s, which name the
 * registry, repository and manifest or blob.
 *
 * <p>Package-private classes do the HTTP work: {@code HttpTransport} (schemes, redirects,
 * retries), {@code Authenticator} (Basic and bearer token auth) and {@code BlobUploader}.
 */
package io.nydus.registry;
