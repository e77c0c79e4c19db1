package io.nydus.snapshotter;

import java.util.List;

/** A mount that containerd performs for a snapshot, in mount(2) terms. */
public record MountSpec(String type, String source, List<String> options) {

    public MountSpec {
        if (type == null || type.isEmpty()) {
            throw new IllegalArgumentException("mount type is empty");
        }
        source = source == null ? "" : source;
        options = List.copyOf(options);
    }
}
