package io.nydus.registry;

/**
 * The subject of a registry request, for error messages and logs.
 *
 * @param registry the registry host
 * @param repository the repository name, or null for requests outside a repository
 * @param subject the object, such as {@code manifest latest} or {@code blob sha256:...}
 */
record RequestTarget(String registry, String repository, String subject) {

    static RequestTarget manifest(ImageReference reference) {
        return new RequestTarget(reference.registry(), reference.repository(),
                "manifest " + reference.manifestReference());
    }

    static RequestTarget blob(Repository repository, Digest digest) {
        return new RequestTarget(repository.registry(), repository.name(), "blob " + digest);
    }

    /** Returns e.g. {@code blob sha256:... in 127.0.0.1:5000/app}. */
    String describe() {
        String where = repository == null ? "registry " + registry : registry + "/" + repository;
        return subject + " in " + where;
    }
}
